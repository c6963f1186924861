"""Snakemake wiring: consecutive evaluation windows of one (length, stride) pair."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.windows(
        snakemake.config, int(snakemake.wildcards.length), int(snakemake.wildcards.stride)
    )
