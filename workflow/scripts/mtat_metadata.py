"""Snakemake wiring: fetch or verify MTAT's metadata."""

from pipeline import stages

stages.mtat_metadata(snakemake.config)
