"""Snakemake wiring: fetch or verify MTAT's metadata."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.mtat_metadata(snakemake.config)
