"""Snakemake wiring: the claims scorecard."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.claims(snakemake.config)
