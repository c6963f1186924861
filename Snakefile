# e2e-tagging: Dieleman & Schrauwen (2014) rebuilt as one DAG.
#   snakemake --cores 2                      # every table and figure on the embedded dataset
#   snakemake --cores 2 --config dataset=mtat mtat_dir=/data/mtat
# Rules only wire; the logic lives in src/pipeline/. params.yaml is the config.

from pipeline.config import validate_params, ParamsError

configfile: "params.yaml"

try:
    validate_params(config)
except ParamsError as error:
    raise WorkflowError(str(error)) from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/reports.smk"


rule all:
    default_target: True
    input:
        expand(str(PATHS.table("{table}")), table=TABLES),
        FIGURES,
        CLAIMS,
