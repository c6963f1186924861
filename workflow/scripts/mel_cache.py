"""Snakemake wiring: the mel cache of one (length, stride) pair."""

from pipeline import stages

stages.mel_cache(
    snakemake.config,
    int(snakemake.wildcards.length),
    int(snakemake.wildcards.stride),
    snakemake.threads,
)
