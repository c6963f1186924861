"""Snakemake wiring: the part-based split and the K most frequent tags."""

from pipeline import stages

stages.split(snakemake.config)
