"""Snakemake wiring: train one variant."""

from pipeline import stages

stages.train(snakemake.config, snakemake.wildcards.variant)
