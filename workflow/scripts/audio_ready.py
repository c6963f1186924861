"""Snakemake wiring: make the dataset's audio available."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.audio_ready(snakemake.config)
