"""Snakemake wiring: one table from the per-variant metrics."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.table(snakemake.config, snakemake.wildcards.table)
