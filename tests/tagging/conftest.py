"""Fixtures shared by the tagging tests: a model directory and a folder of good and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tagging.helpers import make_model_dir, write_audio


@pytest.fixture
def spectrogram_dir(tmp_path: Path) -> Path:
    return make_model_dir(tmp_path / "model_spectrogram")


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Two usable files (one a 44.1 kHz stereo WAV in a subfolder) and three broken ones."""
    folder = tmp_path / "music"
    write_audio(folder / "good.mp3", 2.0, fmt="MP3")
    write_audio(folder / "sub" / "stereo.WAV", 1.5, rate=44100, channels=2)
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "notes.mp3").write_text("these are not the mp3 frames you are looking for\n" * 20)
    write_audio(folder / "short.wav", 0.1)
    (folder / "readme.txt").write_text("not audio, ignored in folders")
    return folder
