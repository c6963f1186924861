"""A tiny project for tests that run the DAG's steps through :mod:`pipeline.stages`, as both
drivers do: params.yaml with a tiny grid, network and training profile layered on, and a
dataset in MagnaTagATune's layout (16 part folders) whose split.csv the steps read from where
:class:`pipeline.paths.Paths` puts it, relative to the working directory.

The parts follow the paper's protocol (0-b train, c validation, d-f test) and hold different
numbers of clips, so scoring the wrong part also scores the wrong number of clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import yaml

from pipeline.config import merge_params, validate_params
from pipeline.constants import SAMPLE_RATE
from pipeline.data.split import SPLIT_COLUMNS
from pipeline.paths import Paths

REPO = Path(__file__).resolve().parents[1]
LENGTH = STRIDE = 256
WINDOW_SAMPLES = 4096  # 16 frames of 256 samples
CLIP_SAMPLES = 9600  # two consecutive evaluation windows per clip
TINY_MODEL = {"raw_filters": 16, "conv_filters": 8, "conv_length": 3, "pool_size": 2,
              "dense_units": 16}  # fmt: skip
PAIR = {"length": LENGTH, "stride": STRIDE}
OVERRIDES: dict[str, Any] = {
    "audio": {"window_seconds": WINDOW_SAMPLES / SAMPLE_RATE},
    "experiments": {
        # Neither ascending nor 1, 2: a step that numbered the seeds by position, or sorted
        # them in one place and not another, hands a seed another seed's files, which
        # tests/test_stages.py sees.
        "seeds": [3, 1],
        "front_ends": ["spectrogram", "raw"],
        "table1": [PAIR],
        "table2": {**PAIR, "nonlinearities": ["relu"]},
        "table3": {**PAIR, "poolings": [{"type": "none", "size": 1}]},
        "table4": {"pairs": [PAIR], "inits": ["random"]},
        "figures": {"filters_pair": PAIR, "l2_pool_size": 2},
    },
    "model": TINY_MODEL,
    "training": {
        "device": "cpu",
        "threads": 1,
        "profile": "quick",
        "profiles": {"quick": {"updates": 6, "validate_every": 3, "batch_size": 10}},
    },
    "evaluation": {"batch_size": 16},
}
TRAIN_PARTS = list("0123456789ab")
CLIPS_PER_PART = {**{part: 2 for part in TRAIN_PARTS}, "c": 8, "d": 3, "e": 4, "f": 2}
SPLIT_OF_PART = {**{part: "train" for part in TRAIN_PARTS}, "c": "valid"} | {
    part: "test" for part in "def"
}
TONE_HZ = 1000.0


def stage_params() -> dict[str, Any]:
    """params.yaml with the tiny overrides, validated as every step validates it."""
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), OVERRIDES)
    validate_params(params)
    return params


def _clip(rng: np.random.Generator, tone: bool) -> np.ndarray:
    """Noise, or a 1 kHz tone under less noise at the same power: only the spectrum tells."""
    t = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    audio = 0.1 * rng.normal(size=CLIP_SAMPLES) * (np.sqrt(0.2) if tone else 1.0)
    if tone:
        audio += 0.1 * np.sqrt(1.6) * np.sin(2 * np.pi * TONE_HZ * t + rng.uniform(0, 6.3))
    return audio.astype(np.float32)


def write_split_and_audio(params: dict[str, Any]) -> pd.DataFrame:
    """split.csv (tags ``tone``, learnable, present in every other clip of each part, and
    ``coin``, in every other pair) and the clips as WAV files under the dataset's raw folder,
    where the decode step finds them."""
    paths = Paths.of(params)
    rng = np.random.default_rng(2014)
    rows = []
    for part, count in CLIPS_PER_PART.items():
        for k in range(count):
            clip_id = 1000 + 37 * len(rows)  # neither consecutive nor starting at 0
            rows.append(
                {
                    "clip_id": clip_id,
                    "mp3_path": f"{part}/clip-{clip_id}.wav",
                    "part": part,
                    "split": SPLIT_OF_PART[part],
                    "tone": k % 2,
                    "coin": (k // 2) % 2,
                }
            )
    split = pd.DataFrame(rows, columns=[*SPLIT_COLUMNS, "tone", "coin"])
    for row in split.itertuples(index=False):
        path = paths.raw / row.mp3_path
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, _clip(rng, bool(row.tone)), SAMPLE_RATE, subtype="FLOAT")
    paths.split.parent.mkdir(parents=True, exist_ok=True)
    split.to_csv(paths.split, index=False)
    return split


def part_clip_ids(split: pd.DataFrame, parts: str) -> set[int]:
    """The clip ids of some parts, read from the ``part`` column (not the ``split`` one)."""
    return set(split.loc[split["part"].isin(list(parts)), "clip_id"].tolist())
