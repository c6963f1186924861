import numpy as np
import pandas as pd
import pytest

from pipeline.data.annotations import write_annotations
from pipeline.data.audio import decode_clip, to_int16
from pipeline.data.split import write_split
from pipeline.features.cache import MEL_ROW_SHAPE, build_audio_cache, build_mel_cache, open_cache
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
