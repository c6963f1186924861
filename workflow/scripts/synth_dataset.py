"""Snakemake wiring: generate the embedded MTAT-layout dataset."""

from pipeline import stages

stages.synth(snakemake.config, snakemake.threads)
