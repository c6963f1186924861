"""Snakemake wiring: decode every clip once into the audio cache; list unusable clips."""

from pipeline import stages

stages.decode_audio(snakemake.config, snakemake.threads)
