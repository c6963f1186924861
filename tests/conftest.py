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
