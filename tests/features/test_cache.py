from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.data.annotations import write_annotations
from pipeline.data.audio import decode_clip, to_int16
from pipeline.data.split import write_split
from pipeline.features.cache import (
    MEL_ROW_SHAPE,
    CacheMismatch,
    CachePaths,
    _write_cache,
    build_audio_cache,
    build_mel_cache,
    open_cache,
)
from pipeline.features.mel import log_mel_spectrogram
from tests.conftest import write_tone


def _cut(path):
    data = path.read_bytes()
    return data[: int(len(data) * 0.7) + 1]


@pytest.fixture()
def broken_folder(tmp_path):
    """A tiny MTAT-layout folder: good clips beside every kind of broken one."""
    root = tmp_path / "music"
    paths = {
        "0/good-a-01-x-0-29.mp3": lambda p: write_tone(p, 5.0, 300.0),
        "1/stereo44k-a-01-x-0-29.mp3": lambda p: write_tone(p, 5.0, 600.0, rate=44_100, channels=2),
        "c/good-b-01-x-0-29.mp3": lambda p: write_tone(p, 4.0, 900.0),
        "d/empty-a-01-x-0-29.mp3": lambda p: p.write_bytes(b""),
        "d/text-a-01-x-0-29.mp3": lambda p: p.write_text("not audio\n" * 50),
        "e/short-a-01-x-0-29.mp3": lambda p: write_tone(p, 1.0),
        "e/missing-a-01-x-0-29.mp3": lambda p: None,
        "f/truncated-a-01-x-0-29.mp3": lambda p: p.write_bytes(_cut(write_tone(p, 10.0, 440.0))),
    }
    for relative, make in paths.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        make(root / relative)
    labels = np.eye(len(paths), 2, dtype=int)
    write_annotations(
        root / "annotations_final.csv", range(2, 2 + len(paths)), ["t1", "t2"], labels, list(paths)
    )
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_audio_cache_skips_broken_clips_and_keeps_the_rest(broken_folder, tmp_path, workers):
    split_path = tmp_path / "split.csv"
    write_split(broken_folder / "annotations_final.csv", split_path, 50, "paper")
    index = build_audio_cache(
        split_path, broken_folder, tmp_path / "audio", tmp_path / "skipped.csv", 48_000, workers
    )
    skipped = pd.read_csv(tmp_path / "skipped.csv").set_index("mp3_path")["reason"].to_dict()
    assert skipped == {
        "d/empty-a-01-x-0-29.mp3": "empty",
        "d/text-a-01-x-0-29.mp3": "undecodable",
        "e/short-a-01-x-0-29.mp3": "too short",
        "e/missing-a-01-x-0-29.mp3": "missing",
        "f/truncated-a-01-x-0-29.mp3": "truncated",
    }
    assert index["clip_id"].tolist() == [2, 3, 4]
    audio, index = open_cache(tmp_path / "audio", "<i2")
    first = decode_clip(broken_folder / "0/good-a-01-x-0-29.mp3")
    assert index.loc[0, "count"] == len(first)
    assert np.array_equal(audio[: len(first)], to_int16(first))
    assert index["offset"].tolist() == [0, index["count"][0], index["count"][0] + index["count"][1]]

    mel_index = build_mel_cache(tmp_path / "audio", tmp_path / "mel", 512, 256, 1024, workers)
    mel, _ = open_cache(tmp_path / "mel", "<f2", MEL_ROW_SHAPE)
    expected = log_mel_spectrogram(to_int16(first), 512, 256).astype(np.float16)
    assert mel_index.loc[0, "count"] == len(expected)
    assert np.array_equal(mel[: len(expected)], expected)
    assert not list(tmp_path.glob("*.partial"))


def _tiny_cache(stem, values=(1, 2, 3, 4, 5)):
    """A two-clip int16 cache written by the real writer."""
    rows = [
        ({"clip_id": 2, "split": "train"}, np.array(values[:2])),
        ({"clip_id": 3, "split": "valid"}, np.array(values[2:])),
    ]
    return _write_cache(CachePaths.of(stem), rows, np.dtype("<i2"))


def test_cache_data_is_renamed_into_place_before_its_index_after_the_old_index_goes(
    tmp_path, monkeypatch
):
    paths = CachePaths.of(tmp_path / "audio")
    _tiny_cache(tmp_path / "audio")
    renamed, real_replace = [], Path.replace

    def replace(self, target):
        renamed.append((Path(target).name, paths.index.exists()))
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    _tiny_cache(tmp_path / "audio", (5, 6, 7, 8, 9))
    assert renamed == [("audio.bin", False), ("audio.csv", False)]
    audio, index = open_cache(tmp_path / "audio", "<i2")
    assert audio.tolist() == [5, 6, 7, 8, 9] and index["count"].tolist() == [2, 3]


def test_a_failed_cache_write_leaves_the_old_cache_whole(tmp_path):
    _tiny_cache(tmp_path / "audio")

    def rows():
        yield {"clip_id": 2, "split": "train"}, np.array([7, 7, 7])
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError, match="decoder died"):
        _write_cache(CachePaths.of(tmp_path / "audio"), rows(), np.dtype("<i2"))
    audio, _ = open_cache(tmp_path / "audio", "<i2")
    assert audio.tolist() == [1, 2, 3, 4, 5]
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda paths: paths.data.write_bytes(paths.data.read_bytes()[:-2]),
        lambda paths: paths.data.write_bytes(paths.data.read_bytes() + b"\0\0"),
        lambda paths: paths.index.write_text(
            "clip_id,split,offset,count\n2,train,0,2\n3,valid,1,3\n"
        ),
        lambda paths: paths.data.unlink(),
    ],
    ids=["short data", "long data", "overlapping offsets", "no data"],
)
def test_a_cache_whose_index_does_not_tile_its_data_is_refused(tmp_path, damage):
    paths = CachePaths.of(tmp_path / "audio")
    _tiny_cache(tmp_path / "audio")
    damage(paths)
    with pytest.raises(CacheMismatch) as raised:
        open_cache(tmp_path / "audio", "<i2")
    message = str(raised.value)
    assert message.startswith(f"{paths.data} and {paths.index} do not match: ")
    assert message.endswith("delete both files and rerun the workflow")


def test_cache_data_without_its_index_is_refused(tmp_path):
    paths = CachePaths.of(tmp_path / "audio")
    _tiny_cache(tmp_path / "audio")
    paths.index.unlink()
    with pytest.raises(CacheMismatch, match="index .*audio.csv is missing"):
        open_cache(tmp_path / "audio", "<i2")
    with pytest.raises(CacheMismatch, match="rerun the workflow"):
        build_mel_cache(tmp_path / "audio", tmp_path / "mel", 512, 256, 1024)
    assert not (tmp_path / "mel.bin").exists()


def test_mel_rows_are_checked_against_the_data_size(tmp_path):
    """A float16 mel cache of 128-value rows: sizes count rows, not values."""
    rows = [({"clip_id": 2, "split": "train"}, np.zeros((3, *MEL_ROW_SHAPE)))]
    _write_cache(CachePaths.of(tmp_path / "mel"), rows, np.dtype("<f2"))
    mel, _ = open_cache(tmp_path / "mel", "<f2", MEL_ROW_SHAPE)
    assert mel.shape == (3, *MEL_ROW_SHAPE)
    with pytest.raises(CacheMismatch, match="covers 1536 bytes"):
        open_cache(tmp_path / "mel", "<f4", MEL_ROW_SHAPE)
