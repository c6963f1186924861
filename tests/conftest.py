"""Shared fixtures: the real MTAT files in ../shared/mtat (skipped with a reason when absent)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_MTAT = REPO.parent / "shared" / "mtat"
REAL_CLIP = SHARED_MTAT / "audio" / "e" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"


def _need_shared(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real MTAT fixture {path} is absent (tests read it from ../shared/mtat)")


@pytest.fixture(scope="session")
def real_metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the real annotations_final.csv and clip_info_final.csv, unpacked once."""
    folder = tmp_path_factory.mktemp("mtat")
    for name in ("annotations_final.csv", "clip_info_final.csv"):
        source = SHARED_MTAT / f"{name}.gz"
        _need_shared(source)
        with gzip.open(source, "rb") as packed, open(folder / name, "wb") as plain:
            shutil.copyfileobj(packed, plain)
    return folder


@pytest.fixture(scope="session")
def real_annotations(real_metadata: Path) -> Path:
    """The real annotations_final.csv."""
    return real_metadata / "annotations_final.csv"


@pytest.fixture(scope="session")
def real_clip() -> Path:
    """One real MTAT clip (part e)."""
    _need_shared(REAL_CLIP)
    return REAL_CLIP


def write_tone(
    path: Path,
    seconds: float,
    frequency: float = 440.0,
    rate: int = 16000,
    channels: int = 1,
    fmt: str = "MP3",
) -> Path:
    """A sine tone file for decoding tests."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, format=fmt)
    return path


# A small grid (7 variants, 2 seeds) trained for 40 updates: the whole DAG in about a minute.
TINY = {
    "synth": {"clips_per_part": 2, "seed": 7, "label_noise": 0.1},
    "experiments": {
        "seeds": [1, 2],
        "front_ends": ["spectrogram", "raw"],
        "table1": [{"length": 1024, "stride": 1024}, {"length": 512, "stride": 256}],
        "table2": {"length": 1024, "stride": 1024, "nonlinearities": ["relu", "log_x2"]},
        "table3": {
            "length": 1024,
            "stride": 1024,
            "poolings": [{"type": "none", "size": 1}, {"type": "l2", "size": 2}],
        },
        "table4": {"pairs": [{"length": 1024, "stride": 1024}], "inits": ["random", "mel"]},
        "figures": {"filters_pair": {"length": 1024, "stride": 1024}, "l2_pool_size": 2},
    },
    "training": {"profiles": {"quick": {"updates": 40, "validate_every": 20}}},
}


def merge_params(base: dict, update: dict) -> dict:
    """params.yaml with nested overrides applied (what Snakemake's --configfile does)."""
    merged = dict(base)
    for key, value in update.items():
        nested = isinstance(value, dict) and key in base
        merged[key] = merge_params(base[key], value) if nested else value
    return merged
