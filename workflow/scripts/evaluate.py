"""Snakemake wiring: clip-level test AUC of one trained variant."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.evaluate(snakemake.config, snakemake.wildcards.variant)
