"""Snakemake wiring: make the dataset's audio available."""

from pipeline import stages

stages.audio_ready(snakemake.config)
