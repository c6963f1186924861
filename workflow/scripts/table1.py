"""Snakemake wiring: Table 1 from the per-variant metrics."""

from pipeline import stages

stages.table1(snakemake.config)
