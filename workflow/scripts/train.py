"""Snakemake wiring: train one variant, every seed in one job."""

from pipeline import stages

stages.train(snakemake.config, snakemake.wildcards.variant)
