"""Cut clips into ~3 s input windows.

A window is ``F`` frames of a (length, stride) framing, ``F = 1 + (W - length) // stride``
for the nominal window of ``W`` samples; on raw audio the same window is the
``(F - 1) * stride + length`` samples those frames cover, so both front ends see exactly
the same audio. Evaluation uses consecutive, non-overlapping windows (the paper averages
their predictions per clip); training draws windows at random offsets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import atomic
from pipeline.config import frames_per_window
from pipeline.features.mel import n_frames


def raw_window_samples(frames: int, length: int, stride: int) -> int:
    """Samples covered by ``frames`` frames: the raw-audio model's input length."""
    return (frames - 1) * stride + length


def consecutive_windows(
    clips: pd.DataFrame, window_samples: int, length: int, stride: int
) -> pd.DataFrame:
    """Consecutive windows of every clip: clip_id, split, window, start_frame, start_sample.

    ``clips`` is the audio cache index: clip_id, split and count (the decoded samples, which
    varies by a few samples on real MTAT); each clip contributes only whole windows.
    """
    frames = frames_per_window(window_samples, length, stride)
    rows = []
    for clip_id, split, n_samples in clips[["clip_id", "split", "count"]].itertuples(index=False):
        count = n_frames(int(n_samples), length, stride) // frames
        starts = np.arange(count, dtype=np.int64) * frames
        rows.append(
            pd.DataFrame(
                {
                    "clip_id": clip_id,
                    "split": split,
                    "window": np.arange(count),
                    "start_frame": starts,
                    "start_sample": starts * stride,
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["clip_id", "split", "window", "start_frame", "start_sample"])
    return pd.concat(rows, ignore_index=True)


def write_windows(
    clips_path: str | Path, out_path: str | Path, window_samples: int, length: int, stride: int
) -> pd.DataFrame:
    """Compute the evaluation windows of every cached clip and write them atomically."""
    clips = pd.read_csv(clips_path)
    windows = consecutive_windows(clips, window_samples, length, stride)
    atomic.write_csv(windows, out_path)
    return windows
