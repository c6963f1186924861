"""The e2e-tag command: broken files (exit 1), usage errors (exit 2), run as a module."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.tagging.cli import main
from tests.tagging.helpers import write_audio


def test_folder_with_broken_files(
    spectrogram_dir: Path, mixed_folder: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        ["--model", str(spectrogram_dir), str(mixed_folder), "--format", "csv", "--top", "2"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    errors = sorted(line for line in err.splitlines() if line.startswith("error: "))
    assert errors == [
        f"error: {mixed_folder / 'empty.mp3'}: empty",
        f"error: {mixed_folder / 'notes.mp3'}: " + errors[1].split(": ", 2)[2],
        f"error: {mixed_folder / 'short.wav'}: too short (1600 samples < one window of 4096)",
    ]
    assert errors[1].split(": ", 2)[2].startswith("undecodable")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(Path(r["path"]).name, r["rank"]) for r in rows] == [
        ("good.mp3", "1"),
        ("good.mp3", "2"),
        ("stereo.WAV", "1"),
        ("stereo.WAV", "2"),
    ]
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)


def test_missing_model_dir_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_audio(tmp_path / "clip.wav", 1.0)
    missing = tmp_path / "no_such_model"
    assert main(["--model", str(missing), str(clip)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "config.json" in err and "model.pt" in err

    empty = tmp_path / "not_a_model"
    empty.mkdir()
    assert main(["--model", str(empty), str(clip)]) == 2
    assert "is not a trained model" in capsys.readouterr().err


def test_module_runs_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.tagging.cli",
            "--model",
            str(tmp_path / "none"),
            "x.wav",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: model directory")
