"""Snakemake wiring: the part-based split and the K most frequent tags."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.split(snakemake.config)
