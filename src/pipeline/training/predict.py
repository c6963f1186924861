"""Run a trained network over windows and average its predictions per clip."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch

from pipeline.metrics import average_windows
from pipeline.training.batches import WindowSource


@torch.no_grad()
def predict_batches(model: torch.nn.Module, batches, device: torch.device) -> np.ndarray:
    """Sigmoid outputs for an iterable of numpy input batches, concatenated."""
    model.eval()
    outputs = [
        torch.sigmoid(model(torch.from_numpy(np.ascontiguousarray(b)).to(device))).cpu().numpy()
        for b in batches
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)


def clip_batches(clip_ids: np.ndarray, batch_size: int) -> Iterator[slice]:
    """Slices of at most ``batch_size`` consecutive windows that never span two clips.

    CPU kernels round a batch's outputs differently for different batch sizes (by ~1e-7), so
    a clip's windows are predicted in batches of their own, starting at its first window: its
    scores then do not depend on which clips are evaluated beside it, and ``e2e-tag``, which
    batches a file's windows the same way, reproduces them exactly.
    """
    starts = np.flatnonzero(np.r_[True, clip_ids[1:] != clip_ids[:-1]])
    ends = np.r_[starts[1:], len(clip_ids)]
    for start, end in zip(starts, ends, strict=True):
        for first in range(start, end, batch_size):
            yield slice(first, min(first + batch_size, end))


def clip_predictions(
    model: torch.nn.Module,
    source: WindowSource,
    windows: pd.DataFrame,
    split: str,
    batch_size: int,
    device: torch.device,
    clip_aligned: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip ids, clip-level scores (mean over consecutive windows) and labels of one split.

    ``clip_aligned``: batches never span two clips (:func:`clip_batches`: bits that do not
    depend on the other clips); otherwise full batches of ``batch_size`` windows (faster on a
    GPU, where the bits are not pinned anyway).
    """
    selected = windows[windows["split"] == split]
    row_of = pd.Series(np.arange(len(source.index)), index=source.index["clip_id"])
    rows = row_of.loc[selected["clip_id"]].to_numpy()
    starts = selected[source.start_column].to_numpy()
    clip_ids = selected["clip_id"].to_numpy()
    slices = (
        clip_batches(clip_ids, batch_size)
        if clip_aligned
        else (slice(first, first + batch_size) for first in range(0, len(clip_ids), batch_size))
    )
    batches = (source.gather(rows[batch], starts[batch]) for batch in slices)
    scores = predict_batches(model, batches, device)
    clip_ids, clip_scores = average_windows(clip_ids, scores)
    labels = source.labels[row_of.loc[clip_ids].to_numpy()]
    return clip_ids, clip_scores, labels
