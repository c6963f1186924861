# Stage 4: the tables, the figures, and the captions of `snakemake --report`.
from pipeline.config import TABLE_SETTINGS, TABLE_VARIANTS, figure_variants
from pipeline.evaluation.figures import FIGURE_FILES

TABLES = list(TABLE_VARIANTS)
FIGURES = [str(PATHS.figures / name) for name in FIGURE_FILES.values()]
CLAIMS = [str(PATHS.claims(extension)) for extension in ("csv", "md", "json")]
# The models whose filters Figures 2-4 show (every seed: the figures' captions and the claims
# give a verdict per seed).
FIGURE_MODELS = [
    f"{MODELS}/{v.name}/seed{seed}/{file}"
    for v in figure_variants(config).values()
    for seed in SEEDS
    for file in ("model.pt", "config.json")
]


rule table:
    input:
        metrics=lambda wc: [f"{METRICS}/{v.name}.json" for v in TABLE_VARIANTS[wc.table](config)],
        code=step_code_files("table"),
    output:
        table=report(
            str(PATHS.table("{table}")),
            caption="../report/table.rst",
            category="Tables",
        ),
    params:
        settings=lambda wc: values_at(config, TABLE_SETTINGS[wc.table]),
    wildcard_constraints:
        table="|".join(TABLES),
    resources:
        **rule_resources("table"),
    log:
        str(PATHS.job_log("table", "{table}")),
    benchmark:
        str(PATHS.job_benchmark("table", "{table}")),
    script:
        "../scripts/table.py"


rule figures:
    input:
        models=[
            f"{MODELS}/{v.name}/seed{seed}/model.pt"
            for v in all_variants(config)
            for seed in SEEDS
        ],
        code=step_code_files("figures"),
    output:
        [
            report(path, caption=f"../report/{Path(path).stem}.rst", category="Figures")
            for path in FIGURES
        ],
    params:
        figures=config["experiments"]["figures"],
        claims=config["claims"],
    resources:
        **rule_resources("figures"),
    log:
        str(PATHS.job_log("figures", "figures")),
    benchmark:
        str(PATHS.job_benchmark("figures", "figures")),
    script:
        "../scripts/figures.py"


# The paper's findings, each checked on this run: after the tables and figures, from the same
# metrics and the figures' trained filters.
rule claims:
    input:
        metrics=[
            f"{METRICS}/{v.name}.json"
            for table in ("table1", "table2", "table3")
            for v in TABLE_VARIANTS[table](config)
        ],
        models=FIGURE_MODELS,
        code=step_code_files("claims"),
    output:
        table=report(CLAIMS[0], caption="../report/claims.rst", category="Claims"),
        readable=CLAIMS[1],
        metric=CLAIMS[2],
    params:
        claims=config["claims"],
        experiments=config["experiments"],
    resources:
        **rule_resources("claims"),
    log:
        str(PATHS.job_log("claims", "claims")),
    benchmark:
        str(PATHS.job_benchmark("claims", "claims")),
    script:
        "../scripts/claims.py"
