"""Taggram images and their names, for one file and for several."""

from __future__ import annotations

from pathlib import Path

from pipeline.tagging.cli import main
from pipeline.tagging.inference import TagResult
from pipeline.tagging.taggram import taggram_paths
from tests.tagging.helpers import CPU


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_taggram_one_file_and_several(
    spectrogram_dir: Path, mixed_folder: Path, tmp_path: Path
) -> None:
    good = mixed_folder / "good.mp3"
    single = tmp_path / "taggram.png"
    main(["--model", str(spectrogram_dir), str(good), "--taggram", str(single), *CPU])
    _assert_png(single)

    folder = tmp_path / "taggrams"
    assert (
        main(
            [
                "--model",
                str(spectrogram_dir),
                str(mixed_folder),
                "--quiet",
                "--taggram",
                str(folder),
                *CPU,
            ]
        )
        == 1
    )
    assert sorted(p.name for p in folder.iterdir()) == ["good.png", "stereo.png"]
    _assert_png(folder / "stereo.png")


def test_taggram_names_for_several_files() -> None:
    results = [TagResult(p) for p in ("a/x.mp3", "b/x.mp3", "y.wav")]
    assert taggram_paths("out/tg.png", results) == [
        Path("out/tg_x.png"),
        Path("out/tg_x_2.png"),
        Path("out/tg_y.png"),
    ]
    assert taggram_paths("out", results)[1] == Path("out/x_2.png")
    assert taggram_paths("one", results[:1]) == [Path("one.png")]
