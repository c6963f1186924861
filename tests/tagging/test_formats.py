"""The --format outputs: JSON lists results and errors, the table is the default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.tagging.cli import main
from tests.tagging.helpers import CPU, write_audio


def test_json_lists_results_and_errors(
    spectrogram_dir: Path, mixed_folder: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        ["--model", str(spectrogram_dir), str(mixed_folder), "--format", "json", "--quiet", *CPU]
    )
    out, err = capsys.readouterr()
    assert code == 1 and "%|" not in err  # --quiet: no progress bar
    rows = {Path(row["path"]).name: row for row in json.loads(out)}
    assert sorted(rows) == ["empty.mp3", "good.mp3", "notes.mp3", "short.wav", "stereo.WAV"]
    assert rows["empty.mp3"] == {"path": str(mixed_folder / "empty.mp3"), "error": "empty"}
    stereo = rows["stereo.WAV"]
    assert stereo["windows"] == 5 and stereo["duration_s"] == pytest.approx(1.5)
    assert [t["tag"] for t in stereo["tags"]] and len(stereo["tags"]) == 5
    probabilities = [t["probability"] for t in stereo["tags"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_table_is_default_and_exit_0(
    spectrogram_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    clip = write_audio(tmp_path / "clip.flac", 1.0, fmt="FLAC")
    assert main(["--model", str(spectrogram_dir), str(clip), "--top", "3", *CPU]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{clip}  (1.0 s, 3 windows)"
    assert [line.split()[0] for line in lines[1:]] == ["1.", "2.", "3."]
