"""Snakemake wiring: the filter figures and training curves."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.figures(snakemake.config)
