"""Snakemake wiring: the mel cache of one (length, stride) pair."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.mel_cache(
        snakemake.config,
        int(snakemake.wildcards.length),
        int(snakemake.wildcards.stride),
        snakemake.threads,
    )
