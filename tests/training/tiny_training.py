"""Train the tiny setup's network from the files of :func:`write_tiny_inputs`, as the
pipeline's train step does, in a process of its own so a test can kill it mid-run.

Usage: python -m tests.training.tiny_training INPUTS OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from pipeline.training.loop import train_variant
from tests.training.tiny_setup import tiny_job

JOB = tiny_job(updates=400, validate_every=25, learning_rate=0.01)
"""Checkpoints from update 25 on and about a second of updates after that, so a kill lands
mid-run; at this rate the network learns the tags, so its result depends on the labels."""


def train(inputs: Path, out_dir: Path) -> pd.DataFrame:
    """``train_variant`` on the tiny inputs (portable numerics, as the pipeline's)."""
    return train_variant(
        JOB,
        inputs / "split.csv",
        inputs / "audio",
        None,
        inputs / "windows.csv",
        out_dir,
        progress=False,
    )


if __name__ == "__main__":
    train(Path(sys.argv[1]), Path(sys.argv[2]))
