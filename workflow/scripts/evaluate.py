"""Snakemake wiring: clip-level test AUC of one trained variant."""

from pipeline import stages

stages.evaluate(snakemake.config, snakemake.wildcards.variant)
