"""Run trained networks over windows and average their predictions per clip."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from pipeline.metrics import average_windows
from pipeline.training.batches import WindowSource

Batch = np.ndarray | torch.Tensor
"""Windows to predict: cut on the host (numpy) or already on the device (a tensor)."""
ResidentSplit = Callable[[slice], torch.Tensor]
"""A split's windows at positions of its table, cut on the device
(:class:`pipeline.training.sampling.ResidentWindows`)."""


@torch.no_grad()
def predict_each(
    models: Sequence[torch.nn.Module], batches: Iterable[Batch], device: torch.device
) -> list[np.ndarray]:
    """Sigmoid outputs of every model for an iterable of input batches (numpy, or tensors
    already on the device), concatenated per model.

    Each batch is cut and moved to the device once and given to every model in turn, so
    validating the seeds of a job reads its windows once instead of once per seed; every model
    sees the same input tensor as it would alone, so its outputs are the same bits.
    """
    for model in models:
        model.eval()
    outputs: list[list[np.ndarray]] = [[] for _ in models]
    for batch in batches:
        if isinstance(batch, torch.Tensor):
            inputs = batch.to(device)
        else:
            inputs = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
        for model, out in zip(models, outputs, strict=True):
            out.append(torch.sigmoid(model(inputs)).cpu().numpy())
    return [np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32) for out in outputs]


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


def window_slices(clip_ids: np.ndarray, batch_size: int, clip_aligned: bool) -> Iterator[slice]:
    """The batches a split's windows are predicted in: :func:`clip_batches` when
    ``clip_aligned``, else runs of ``batch_size`` consecutive windows across clips."""
    if clip_aligned:
        return clip_batches(clip_ids, batch_size)
    return (slice(first, first + batch_size) for first in range(0, len(clip_ids), batch_size))


def split_windows(
    source: WindowSource, windows: pd.DataFrame, split: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """One split's rows of the windows table, and the cache index position of each one's clip."""
    selected = windows[windows["split"] == split]
    row_of = pd.Series(np.arange(len(source.index)), index=source.index["clip_id"])
    return selected, row_of.loc[selected["clip_id"]].to_numpy()


def clip_predictions_of_models(
    models: Sequence[torch.nn.Module],
    source: WindowSource,
    windows: pd.DataFrame,
    split: str,
    batch_size: int,
    device: torch.device,
    clip_aligned: bool = True,
    resident: ResidentSplit | None = None,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Clip ids, each model's clip-level scores (mean over consecutive windows) and the labels
    of one split, every batch of windows cut once for all the models (:func:`predict_each`).

    ``clip_aligned``: batches never span two clips (:func:`clip_batches`: bits that do not
    depend on the other clips); otherwise full batches of ``batch_size`` windows (faster on a
    GPU, where the bits are not pinned anyway). ``resident``: the split's windows cut on the
    device (:class:`pipeline.training.sampling.ResidentWindows` of this split) instead of on
    the host.
    """
    selected, rows = split_windows(source, windows, split)
    starts = selected[source.start_column].to_numpy()
    window_clips = selected["clip_id"].to_numpy()
    slices = window_slices(window_clips, batch_size, clip_aligned)
    batches: Iterable[Batch] = (
        (resident(batch) for batch in slices)
        if resident is not None
        else (source.gather(rows[batch], starts[batch]) for batch in slices)
    )
    clip_scores = [
        average_windows(window_clips, scores)[1] for scores in predict_each(models, batches, device)
    ]
    clip_ids = np.unique(window_clips)  # the clips of average_windows's rows, in its order
    row_of = pd.Series(np.arange(len(source.index)), index=source.index["clip_id"])
    labels = source.labels[row_of.loc[clip_ids].to_numpy()]
    return clip_ids, clip_scores, labels


def clip_predictions(
    model: torch.nn.Module,
    source: WindowSource,
    windows: pd.DataFrame,
    split: str,
    batch_size: int,
    device: torch.device,
    clip_aligned: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip ids, clip-level scores and labels of one split for one model
    (:func:`clip_predictions_of_models`)."""
    clip_ids, [scores], labels = clip_predictions_of_models(
        [model], source, windows, split, batch_size, device, clip_aligned
    )
    return clip_ids, scores, labels
