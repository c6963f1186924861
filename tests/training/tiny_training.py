"""Train the tiny setup's network from the files of :func:`write_tiny_inputs`, as the
pipeline's train step does (two seeds in one job), in a process of its own so a test can kill
it mid-run.

Usage: python -m tests.training.tiny_training INPUTS OUT_DIR [ENGINE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from pipeline.training.loop import train_variant
from tests.training.tiny_setup import tiny_job

SEEDS = (3, 4)
UPDATES, VALIDATE_EVERY = 400, 25
"""Checkpoints from update 25 on and about a second of updates after that, so a kill lands
mid-run; at this rate the network learns the tags, so its result depends on the labels."""


def train(inputs: Path, out_dir: Path, engine: str = "looped") -> dict[int, pd.DataFrame]:
    """``train_variant`` on the tiny inputs (portable numerics, as the pipeline's)."""
    job = tiny_job(UPDATES, VALIDATE_EVERY, learning_rate=0.01, seeds=SEEDS, engine=engine)
    return train_variant(
        job,
        inputs / "split.csv",
        inputs / "audio",
        None,
        inputs / "windows.csv",
        out_dir,
        progress=False,
    )


if __name__ == "__main__":
    train(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
