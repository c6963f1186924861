"""An MTAT folder the user already holds is used as is; what it lacks is listed, not fetched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.constants import ANNOTATIONS_FILE
from pipeline.data.annotations import write_annotations
from pipeline.data.datasets import prepare_audio
from pipeline.data.download import AUDIO_MARKER
from pipeline.data.split import write_split
from pipeline.features.cache import build_audio_cache
from tests.conftest import write_tone

CLIPS = ["0/a-01-x-0-29.mp3", "3/b-01-x-0-29.mp3", "c/c-01-x-0-29.mp3", "f/d-01-x-0-29.mp3"]


def test_partial_mtat_copy_is_used_as_is_and_its_missing_clips_are_listed(
    tmp_path: Path,
) -> None:
    mtat = tmp_path / "mtat"
    for clip in CLIPS[:2]:  # the user's copy holds only the first two clips
        write_tone(mtat / clip, 2.0)
    labels = np.eye(len(CLIPS), 2, dtype=int)
    write_annotations(
        mtat / ANNOTATIONS_FILE, range(2, 2 + len(CLIPS)), ["t1", "t2"], labels, CLIPS
    )

    # an unreachable mirror: any download attempt would fail the test
    info = prepare_audio("mtat", mtat, tmp_path / "audio_ready.json", "http://127.0.0.1:9/")
    assert info == {"dataset": "mtat", "audio_root": str(mtat)}
    assert json.loads((tmp_path / "audio_ready.json").read_text()) == info
    assert not (mtat / AUDIO_MARKER).exists()
    assert not list(mtat.glob("mp3.zip*"))

    write_split(mtat / ANNOTATIONS_FILE, tmp_path / "split.csv", 2, "paper")
    index = build_audio_cache(
        tmp_path / "split.csv", mtat, tmp_path / "audio", tmp_path / "skipped.csv", 16_000
    )
    assert index["clip_id"].tolist() == [2, 3]
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert skipped["mp3_path"].tolist() == CLIPS[2:]
    assert set(skipped["reason"]) == {"missing"}


def test_mtat_folder_without_annotations_is_refused(tmp_path: Path) -> None:
    write_tone(tmp_path / CLIPS[0], 1.0)
    with pytest.raises(FileNotFoundError, match="annotations_final.csv"):
        prepare_audio("mtat", tmp_path, tmp_path / "ready.json", "http://127.0.0.1:9/")
    assert not (tmp_path / "ready.json").exists()
