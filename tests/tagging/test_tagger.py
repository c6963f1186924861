"""The tagging CLI (issue 6) on a tiny untrained model built here, so nothing needs training."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from pipeline.data.audio import decode_clip
from pipeline.features.mel import log_mel_spectrogram
from pipeline.tagging import tagger
from pipeline.tagging.tagger import main, tag_files, taggram_paths
from pipeline.training.networks import build_model
from tests.conftest import REAL_CLIP

TAGS = ["rock", "piano", "quiet", "vocal", "drums"]
TINY = {"conv_filters": 4, "conv_length": 3, "pool_size": 2, "dense_units": 8, "raw_filters": 8}
FRAMES, LENGTH, STRIDE = 16, 256, 256
WINDOW = (FRAMES - 1) * STRIDE + LENGTH  # 4096 samples, 0.256 s


def make_model_dir(
    folder: Path, front_end: str = "spectrogram", seed: int = 0, frames: int = FRAMES
) -> Path:
    """A model directory in the format training writes: model.pt state dict + config.json."""
    torch.manual_seed(seed)
    model = build_model(front_end, LENGTH, STRIDE, frames, len(TAGS), TINY)
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "model.pt")
    config = {
        "variant": f"{front_end}_{LENGTH}_{STRIDE}",
        "front_end": front_end,
        "length": LENGTH,
        "stride": STRIDE,
        "nonlinearity": "relu",
        "pooling": "none",
        "pool_size": 1,
        "init": "random",
        "sample_rate": 16000,
        "window_frames": frames,
        "window_samples": (frames - 1) * STRIDE + LENGTH,
        "min_n_fft": 1024,
        "tags": TAGS,
        "model": TINY,
        "training": {"profile": "test", "seed": seed},
        "dataset": "test",
        "best_valid_auc": 0.5,
        "best_update": 0,
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def write_audio(
    path: Path, seconds: float, rate: int = 16000, channels: int = 1, fmt: str = "WAV"
) -> Path:
    """A pulsing tone plus noise; float WAV keeps the samples exact for hand computations."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(len(path.name)).standard_normal(t.size)
    signal = 0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.7 * t) + 0.05 * noise
    data = np.stack([signal] * channels, axis=1) if channels > 1 else signal
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if fmt == "WAV" else None
    sf.write(path, data.astype(np.float32), rate, format=fmt, subtype=subtype)
    return path


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


def test_tags_a_file_top_n_sorted(spectrogram_dir: Path, tmp_path: Path) -> None:
    clip = write_audio(tmp_path / "clip.wav", 2.0)
    [result] = tag_files(spectrogram_dir, [clip], device="cpu")
    assert result.error is None
    top = result.top(3)
    assert [tag for tag, _ in top] == [t for t, _ in result.top(None)][:3]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert all(0.0 <= p <= 1.0 for _, p in result.top(None))
    assert result.windows == (1 + (32000 - LENGTH) // STRIDE) // FRAMES == 7
    assert result.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize("front_end", ["spectrogram", "raw"])
def test_average_equals_mean_of_windows_by_hand(
    front_end: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunked features and batches split across files must not change a single window."""
    monkeypatch.setattr(tagger, "FEATURE_CHUNK_WINDOWS", 2)
    model_dir = make_model_dir(tmp_path / "model", front_end)
    clips = [write_audio(tmp_path / "a.wav", 2.3), write_audio(tmp_path / "b.wav", 1.1)]
    results = tag_files(model_dir, clips, batch_size=3, device="cpu")

    torch.manual_seed(0)
    model = build_model(front_end, LENGTH, STRIDE, FRAMES, len(TAGS), TINY).eval()
    for clip, result in zip(clips, results, strict=True):
        audio = decode_clip(clip)
        mel = log_mel_spectrogram(audio, LENGTH, STRIDE, 1024)
        count = len(mel) // FRAMES
        if front_end == "spectrogram":
            windows = [mel[k * FRAMES : (k + 1) * FRAMES] for k in range(count)]
        else:
            windows = [
                audio[k * FRAMES * STRIDE : k * FRAMES * STRIDE + WINDOW] for k in range(count)
            ]
        with torch.no_grad():
            each = [torch.sigmoid(model(torch.from_numpy(w[None]))).numpy()[0] for w in windows]
        assert result.windows == count > 2
        np.testing.assert_allclose(result.window_probabilities, np.stack(each), atol=1e-6)
        np.testing.assert_allclose(result.probabilities, np.mean(each, axis=0), atol=1e-6)


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


def test_json_lists_results_and_errors(
    spectrogram_dir: Path, mixed_folder: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["--model", str(spectrogram_dir), str(mixed_folder), "--format", "json", "--quiet"])
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
    assert main(["--model", str(spectrogram_dir), str(clip), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{clip}  (1.0 s, 3 windows)"
    assert [line.split()[0] for line in lines[1:]] == ["1.", "2.", "3."]


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_taggram_one_file_and_several(
    spectrogram_dir: Path, mixed_folder: Path, tmp_path: Path
) -> None:
    good = mixed_folder / "good.mp3"
    single = tmp_path / "taggram.png"
    main(["--model", str(spectrogram_dir), str(good), "--taggram", str(single)])
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
            ]
        )
        == 1
    )
    assert sorted(p.name for p in folder.iterdir()) == ["good.png", "stereo.png"]
    _assert_png(folder / "stereo.png")


def test_taggram_names_for_several_files() -> None:
    results = [tagger.TagResult(p) for p in ("a/x.mp3", "b/x.mp3", "y.wav")]
    assert taggram_paths("out/tg.png", results) == [
        Path("out/tg_x.png"),
        Path("out/tg_x_2.png"),
        Path("out/tg_y.png"),
    ]
    assert taggram_paths("out", results)[1] == Path("out/x_2.png")
    assert taggram_paths("one", results[:1]) == [Path("one.png")]


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


def test_a_folder_of_seeds_is_averaged(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """models/<dataset>/<variant>/seed<N>/ as training writes it: the seeds form an ensemble."""
    variant = tmp_path / "spectrogram_256_256"
    seeds = [make_model_dir(variant / f"seed{seed}", seed=seed) for seed in (1, 2)]
    clip = write_audio(tmp_path / "clip.wav", 1.5)
    [ensemble] = tag_files(variant, [clip], device="cpu")
    singles = [tag_files(seed, [clip], device="cpu")[0] for seed in seeds]
    np.testing.assert_allclose(
        ensemble.window_probabilities,
        (singles[0].window_probabilities + singles[1].window_probabilities) / 2,
        atol=1e-6,
    )

    make_model_dir(variant / "seed3", seed=3, frames=FRAMES + 4)  # a different window
    assert main(["--model", str(variant), str(clip)]) == 2
    assert (
        "differs from the first model in window_frames, window_samples" in capsys.readouterr().err
    )


def test_module_runs_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.tagging.tagger",
            "--model",
            str(tmp_path / "none"),
            "x.wav",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: model directory")


def test_real_mtat_clip(spectrogram_dir: Path) -> None:
    if not REAL_CLIP.is_file():
        pytest.skip(f"real MTAT clip {REAL_CLIP} is absent (it lives in ../shared/mtat)")
    [result] = tag_files(spectrogram_dir, [REAL_CLIP], device="cpu")
    assert result.error is None
    assert result.duration_s == pytest.approx(29.1, abs=0.1)
    assert result.windows == (1 + (len(decode_clip(REAL_CLIP)) - LENGTH) // STRIDE) // FRAMES
    assert np.isfinite(result.probabilities).all()
