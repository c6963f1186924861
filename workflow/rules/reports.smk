# Stage 4: the tables, the figures, and the captions of `snakemake --report`.
from pipeline.config import TABLE_SETTINGS, TABLE_VARIANTS
from pipeline.evaluation.figures import FIGURE_FILES

TABLES = list(TABLE_VARIANTS)
FIGURES = [str(PATHS.figures / name) for name in FIGURE_FILES.values()]


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
    resources:
        **rule_resources("figures"),
    log:
        str(PATHS.job_log("figures", "figures")),
    benchmark:
        str(PATHS.job_benchmark("figures", "figures")),
    script:
        "../scripts/figures.py"
