"""Snakemake wiring: decode every clip once into the audio cache; list unusable clips."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.decode_audio(snakemake.config, snakemake.threads)
