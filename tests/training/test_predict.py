"""Clip scores are the mean of the clip's window predictions, for the asked split only, with
the labels of the same clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from pipeline.training.batches import WindowSource
from pipeline.training.predict import clip_predictions

WINDOW = 4


class WindowMean(torch.nn.Module):
    """Logits (m, -m) for a window whose mean sample is m: a score known by hand."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.float().mean(dim=1, keepdim=True)
        return torch.cat([mean, -mean], dim=1)


def _source() -> WindowSource:
    """Clips 30, 10 and 20 (in this cache order) of 12 samples each: 0..35 scaled down."""
    index = pd.DataFrame(
        {"clip_id": [30, 10, 20], "split": ["test", "test", "valid"], "offset": [0, 12, 24]}
    ).assign(count=12)
    labels = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    array = np.arange(36, dtype=np.float32) / 10
    return WindowSource(array, index, labels, ["a", "b"], WINDOW, "start_sample")


def _sigmoid(x: float) -> float:
    return 1 / (1 + np.exp(-x))


def test_clip_scores_average_the_window_predictions_of_the_split() -> None:
    windows = pd.DataFrame(
        {
            "clip_id": [30, 10, 10, 20, 30, 10],
            "split": ["test", "test", "test", "valid", "test", "test"],
            "start_sample": [8, 0, 4, 0, 0, 8],
        }
    )
    clip_ids, scores, labels = clip_predictions(
        WindowMean(), _source(), windows, "test", batch_size=2, device=torch.device("cpu")
    )

    def window_score(offset: int, start: int) -> float:
        return _sigmoid(np.mean(np.arange(offset + start, offset + start + WINDOW) / 10))

    clip_10 = np.mean([window_score(12, s) for s in (0, 4, 8)])
    clip_30 = np.mean([window_score(0, s) for s in (8, 0)])
    assert clip_ids.tolist() == [10, 30]
    np.testing.assert_allclose(scores[:, 0], [clip_10, clip_30], rtol=1e-6)
    np.testing.assert_allclose(scores[:, 1], [1 - clip_10, 1 - clip_30], rtol=1e-6)
    assert labels.tolist() == [[0, 1], [1, 0]]


def test_batches_never_span_two_clips_and_start_at_each_clips_first_window():
    """So a clip's scores do not depend on its neighbours (kernels round per batch size)."""
    from pipeline.training.predict import clip_batches

    clip_ids = np.array([7, 7, 7, 7, 7, 3, 3, 9])
    batches = [(s.start, s.stop) for s in clip_batches(clip_ids, 2)]
    assert batches == [(0, 2), (2, 4), (4, 5), (5, 7), (7, 8)]


def test_several_models_share_each_batch_and_score_as_each_alone(monkeypatch) -> None:
    """Validation predicts every seed from one pass over the windows: each batch is cut once,
    and each model's scores are the bits it gives alone (pinned hashes depend on them)."""
    from pipeline.training.predict import clip_predictions_of_models
    from tests.training.engine_data import VARIANTS, builder, source_of

    source = source_of(VARIANTS["raw"], clips=9)
    source.index["split"] = "valid"
    window, count = source.window, source.index["count"].to_numpy()
    windows = pd.DataFrame(
        [
            {"clip_id": clip, "split": "valid", "start_sample": start}
            for clip, n in zip(source.index["clip_id"], count, strict=True)
            for start in range(0, n - window + 1, window // 2)
        ]
    )
    torch.manual_seed(0)
    models = [builder(VARIANTS["raw"])() for _ in range(3)]
    cuts = []
    gather = WindowSource.gather

    def counted(self: WindowSource, *arguments: np.ndarray) -> np.ndarray:
        cuts.append(1)
        return gather(self, *arguments)

    monkeypatch.setattr(WindowSource, "gather", counted)

    cpu = torch.device("cpu")
    clip_ids, shared, labels = clip_predictions_of_models(
        models, source, windows, "valid", batch_size=3, device=cpu
    )
    batches = len(cuts)
    alone = [
        clip_predictions(m, source, windows, "valid", batch_size=3, device=cpu) for m in models
    ]

    assert len(cuts) == 4 * batches and batches > len(source.index)  # once each, not per model
    assert len(shared) == 3 and not np.array_equal(shared[0], shared[1])
    for (ids, scores, own_labels), together in zip(alone, shared, strict=True):
        assert np.array_equal(ids, clip_ids) and np.array_equal(own_labels, labels)
        assert np.array_equal(scores, together)


def test_windows_kept_on_the_device_score_as_the_windows_cut_on_the_host():
    """Validation on CUDA cuts its windows from clips kept on the device: the same windows,
    in the same batches across clips, so the same scores bit for bit (run on the CPU here)."""
    from pipeline.training.predict import clip_predictions_of_models
    from pipeline.training.sampling import ResidentWindows
    from tests.training.engine_data import VARIANTS, builder, source_of

    for front_end, column in (("raw", "start_sample"), ("spectrogram", "start_frame")):
        source = source_of(VARIANTS[front_end], clips=9)
        window, count = source.window, source.index["count"].to_numpy()
        windows = pd.DataFrame(
            [
                {"clip_id": clip, "split": split, column: start}
                for clip, split, n in zip(
                    source.index["clip_id"], source.index["split"], count, strict=True
                )
                for start in range(0, n - window + 1, window)
            ]
        ).sample(frac=1.0, random_state=0)  # clips interleaved, not in cache order
        torch.manual_seed(0)
        models = [builder(VARIANTS[front_end])() for _ in range(2)]
        cpu = torch.device("cpu")
        resident = ResidentWindows(source, windows, "valid", cpu)
        valid_clips = (source.index["split"] == "valid").sum()
        assert len(resident.clips) == valid_clips  # the split's clips only
        common = (models, source, windows, "valid", 4, cpu, False)
        host_ids, host, host_labels = clip_predictions_of_models(*common)
        ids, kept, labels = clip_predictions_of_models(*common, resident=resident)
        assert np.array_equal(ids, host_ids) and np.array_equal(labels, host_labels)
        assert all(np.array_equal(a, b) for a, b in zip(host, kept, strict=True))
