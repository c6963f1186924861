"""Snakemake wiring: the filter figures and training curves."""

from pipeline import stages

stages.figures(snakemake.config)
