"""Every artefact path, in one place, so Snakemake rules and DVC stages agree.

Data flows one way: data/raw -> data/interim -> data/processed -> models -> reports.
Caches are named by stem (``.bin`` data + ``.csv`` index, see :mod:`pipeline.features.cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import raw_dir
from pipeline.constants import ANNOTATIONS_FILE


@dataclass(frozen=True)
class Paths:
    """The artefact layout of one dataset."""

    dataset: str
    raw: Path

    @classmethod
    def of(cls, params: dict[str, Any]) -> Paths:
        return cls(params["dataset"], raw_dir(params))

    @property
    def annotations(self) -> Path:
        return self.raw / ANNOTATIONS_FILE

    @property
    def interim(self) -> Path:
        return Path("data/interim") / self.dataset

    @property
    def processed(self) -> Path:
        return Path("data/processed") / self.dataset

    @property
    def metadata_verified(self) -> Path:
        """Marker written once MTAT's metadata files are present and match their checksums."""
        return self.interim / "metadata_verified.json"

    @property
    def audio_ready(self) -> Path:
        return self.interim / "audio_ready.json"

    @property
    def split(self) -> Path:
        return self.interim / "split.csv"

    @property
    def skipped(self) -> Path:
        return self.interim / "skipped.csv"

    @property
    def audio_stem(self) -> Path:
        return self.processed / "audio"

    def mel_stem(self, length: int, stride: int) -> Path:
        return self.processed / f"mel_{length}_{stride}"

    def windows(self, length: int, stride: int) -> Path:
        return self.processed / f"windows_{length}_{stride}.csv"

    def variant_dir(self, variant: str) -> Path:
        """Where one training job writes every seed of a variant (and its checkpoint)."""
        return Path("models") / self.dataset / variant

    def model_dir(self, variant: str, seed: int) -> Path:
        return self.variant_dir(variant) / f"seed{seed}"

    def table(self, name: str) -> Path:
        """``reports/table1.csv`` ...; ``name`` may be a Snakemake wildcard such as ``{table}``."""
        return Path("reports") / f"{name}.csv"

    def claims(self, extension: str) -> Path:
        """The claims scorecard: ``csv`` (the table), ``md`` (readable), ``json`` (DVC metric)."""
        return Path("reports") / f"claims.{extension}"

    @property
    def figures(self) -> Path:
        return Path("reports/figures")

    @property
    def metrics_dir(self) -> Path:
        return Path("reports/metrics") / self.dataset

    def metrics(self, variant: str) -> Path:
        return self.metrics_dir / f"{variant}.json"

    def per_tag(self, variant: str) -> Path:
        return self.metrics_dir / f"{variant}_per_tag.csv"

    def job_log(self, rule: str, job: str) -> Path:
        """A workflow job's stdout and stderr (Snakemake's ``log:``); ``job`` names it among
        the rule's jobs and may hold wildcards such as ``{variant}``."""
        return Path("reports/logs") / self.dataset / rule / f"{job}.log"

    def job_benchmark(self, rule: str, job: str) -> Path:
        """A workflow job's wall time, memory and CPU time (Snakemake's ``benchmark:``)."""
        return Path("reports/bench/snakemake") / self.dataset / rule / f"{job}.tsv"
