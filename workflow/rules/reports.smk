# Stage 4: the paper's tables.


rule table1:
    input:
        metrics=[f"{METRICS}/{v.name}.json" for v in table1_variants(config)],
    output:
        table="reports/table1.csv",
    params:
        experiments=config["experiments"],
        metrics_dir=METRICS,
    script:
        "../scripts/table1.py"
