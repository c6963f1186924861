"""Snakemake wiring: train one variant with one seed."""

from pipeline import stages

stages.train(snakemake.config, snakemake.wildcards.variant, int(snakemake.wildcards.seed))
