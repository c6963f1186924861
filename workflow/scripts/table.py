"""Snakemake wiring: one table from the per-variant metrics."""

from pipeline import stages

stages.table(snakemake.config, snakemake.wildcards.table)
