"""Snakemake wiring: consecutive evaluation windows of one (length, stride) pair."""

from pipeline import stages

stages.windows(snakemake.config, int(snakemake.wildcards.length), int(snakemake.wildcards.stride))
