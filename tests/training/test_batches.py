"""Which clips training windows come from, and which labels go with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Variant
from pipeline.training.batches import WindowSource, load_window_source
from pipeline.training.loop import train_variant
from tests.protocol_data import (
    FRAMES,
    WINDOW_SAMPLES,
    Dataset,
    finish,
    tiny_job,
    write_audio_cache,
    write_split,
)

RAW = Variant("raw", 256, 256)
SPLITS = ["train", "valid", "test", "train", "test", "train", "valid", "train", "test", "valid"]
CLIP_IDS = [5, 7, 8, 13, 21, 34, 55, 89, 144, 6]
CACHE_ORDER = [144, 13, 5, 55, 89, 8, 21, 7, 6]  # clip 34 is missing: skipped by the cache
SHORT = 89  # a training clip shorter than a window: never drawn


def _constant_clips() -> dict[int, np.ndarray]:
    """Every sample of a clip holds its clip id, and clips differ in length."""
    lengths = {c: WINDOW_SAMPLES + 500 * (k + 1) for k, c in enumerate(CACHE_ORDER)}
    lengths[SHORT] = WINDOW_SAMPLES - 1
    return {c: np.full(n, c, dtype=np.int16) for c, n in lengths.items()}


def _id_bits(clip_id: int) -> list[int]:
    return [(clip_id >> bit) & 1 for bit in range(8)]


@pytest.fixture()
def data(tmp_path: Path) -> Dataset:
    """Labels spell each clip's id in bits; the cache holds the clips in another order."""
    bits = np.array([_id_bits(c) for c in CLIP_IDS])
    labels = {f"bit{b}": bits[:, b] for b in range(8)}
    split = write_split(tmp_path / "split.csv", CLIP_IDS, SPLITS, labels)
    write_audio_cache(tmp_path / "audio", split, _constant_clips())
    return finish(tmp_path, tmp_path / "split.csv", tmp_path / "audio", spectrogram=False)


def _source(data: Dataset) -> WindowSource:
    return load_window_source(RAW, data.split, data.audio, None, FRAMES)


def test_labels_follow_the_cache_clip_order(data: Dataset) -> None:
    source = _source(data)
    assert source.index["clip_id"].tolist() == CACHE_ORDER
    assert source.tags == [f"bit{b}" for b in range(8)]
    assert source.labels.tolist() == [_id_bits(c) for c in CACHE_ORDER]


def test_rows_of_a_split_are_its_clips_long_enough_for_a_window(data: Dataset) -> None:
    source = _source(data)
    clip_ids = source.index["clip_id"].to_numpy()
    assert sorted(clip_ids[source.rows_of("train")]) == [5, 13]
    assert sorted(clip_ids[source.rows_of("valid")]) == [6, 7, 55]
    assert sorted(clip_ids[source.rows_of("test")]) == [8, 21, 144]


def test_random_batches_hold_whole_windows_of_the_given_clips_only(data: Dataset) -> None:
    source = _source(data)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        inputs, labels = source.random_batch(rng, source.rows_of("train"), 10)
        assert inputs.shape == (10, WINDOW_SAMPLES)
        clip_of_window = inputs[:, 0]
        assert (inputs == clip_of_window[:, None]).all(), "a window crosses into another clip"
        assert labels.tolist() == [_id_bits(int(c)) for c in clip_of_window]
        seen.update(clip_of_window.tolist())
    assert seen == {5, 13}


def test_random_offsets_reach_both_ends_of_a_clip(tmp_path: Path) -> None:
    """A ramp clip: the first and the last possible window are both drawn, nothing beyond."""
    split = write_split(tmp_path / "split.csv", [1], ["train"], {"t": [1]})
    ramp = np.arange(WINDOW_SAMPLES + 3, dtype=np.int16)
    write_audio_cache(tmp_path / "audio", split, {1: ramp})
    source = load_window_source(RAW, tmp_path / "split.csv", tmp_path / "audio", None, FRAMES)
    inputs, _ = source.random_batch(np.random.default_rng(0), source.rows_of("train"), 200)
    assert set(inputs[:, 0].tolist()) == {0, 1, 2, 3}
    assert (inputs == inputs[:, :1] + np.arange(WINDOW_SAMPLES)).all()


def test_training_sees_only_windows_of_training_clips(
    data: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch train_variant draws is recorded: each window comes from a training clip."""
    drawn: list[np.ndarray] = []
    draw = WindowSource.random_batch

    def recording(self, rng, clip_rows, size):
        inputs, labels = draw(self, rng, clip_rows, size)
        drawn.append(inputs.copy())
        return inputs, labels

    monkeypatch.setattr(WindowSource, "random_batch", recording)
    job = tiny_job(RAW, updates=20, validate_every=10)
    train_variant(job, data.split, data.audio, None, data.windows, tmp_path / "model", False)
    windows = np.concatenate(drawn)
    assert len(windows) == 20 * 10
    assert set(np.unique(windows).tolist()) == {5, 13}


def _fancy_gather(source: WindowSource, clip_rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The gather as it was: one index per sample (slow on raw audio, ~48,000 per window)."""
    offsets = source.index["offset"].to_numpy()[clip_rows] + starts
    return source.array[offsets[:, None] + np.arange(source.window)[None, :]]


@pytest.mark.parametrize("front_end", ["raw", "spectrogram"])
def test_the_strided_gather_cuts_exactly_the_windows_of_the_indexed_gather(
    front_end: str, tmp_path: Path
) -> None:
    """Evaluation's pinned scores depend on these inputs: the same values, dtype and shape,
    from a memory-mapped cache as training opens it, up to the cache's last sample."""
    from tests.training.engine_data import VARIANTS, source_of

    source = source_of(VARIANTS[front_end], clips=6)
    source.array.tofile(tmp_path / "cache.bin")
    source.array = np.memmap(
        tmp_path / "cache.bin", dtype=source.array.dtype, mode="r", shape=source.array.shape
    )
    rng = np.random.default_rng(3)
    rows = rng.integers(0, len(source.index), 40)
    rows[:2] = len(source.index) - 1  # the cache's last clip: its first and last window
    room = source.index["count"].to_numpy()[rows] - source.window + 1
    starts = (rng.random(40) * room).astype(np.int64)
    starts[:2] = [0, room[1] - 1]

    fast, indexed = source.gather(rows, starts), _fancy_gather(source, rows, starts)
    assert fast.dtype == indexed.dtype and fast.shape == indexed.shape
    assert np.array_equal(fast, indexed)
    assert fast[1, -1].tolist() == np.asarray(source.array[-1]).tolist()
    with pytest.raises(IndexError):  # a window past the cache's end is refused, not cut short
        source.gather(rows[1:2], starts[1:2] + 1)
