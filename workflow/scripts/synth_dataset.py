"""Snakemake wiring: generate the embedded MTAT-layout dataset."""

from pipeline import stages
from pipeline.job_log import output_to

with output_to(snakemake.log[0]):
    stages.synth(snakemake.config, snakemake.threads)
