"""Snakemake wiring: train one variant, every seed in one job."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.train(snakemake.config, snakemake.wildcards.variant)
