"""evaluate_variant scores the test part, per seed and over seeds, from the files on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.config import Variant
from pipeline.evaluation import evaluate
from tests.protocol_data import FRAMES, WINDOW_SAMPLES, finish, write_audio_cache, write_split

RAW = Variant("raw", 256, 256)
SPLITS = ["train"] * 2 + ["valid"] * 4 + ["test"] * 6
# Clip k's samples all equal 100 * k. Tag "loud" marks the loud test clips but the quiet
# validation clips, so scoring the validation part instead of the test part inverts the AUC.
LOUD = [1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]
NEVER = [1, 1] + [0] * 10  # positive in training only: excluded from the test mean


class Loudness(torch.nn.Module):
    """One logit per tag: the window's mean sample, times ``sign``."""

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.sign = sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.float().mean(dim=1, keepdim=True) / 1000
        return self.sign * torch.cat([mean, mean], dim=1)


def test_evaluates_the_test_part_per_seed_and_over_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip_ids = list(range(1, 13))
    split = write_split(tmp_path / "split.csv", clip_ids, SPLITS, {"loud": LOUD, "never": NEVER})
    clips = {c: np.full(2 * WINDOW_SAMPLES, 100 * c, dtype=np.int16) for c in clip_ids}
    write_audio_cache(tmp_path / "audio", split, clips)
    data = finish(tmp_path, tmp_path / "split.csv", tmp_path / "audio", spectrogram=False)

    def load_trained(model_dir: Path, device: torch.device):
        seed = int(model_dir.name)
        config = {
            "window_frames": FRAMES,
            "tags": ["loud", "never"],
            "best_valid_auc": 0.5 + seed / 10,
            "best_update": 100 * seed,
        }
        return Loudness(1.0 if seed == 1 else -1.0), config

    monkeypatch.setattr(evaluate, "load_trained", load_trained)
    summary = evaluate.evaluate_variant(
        RAW,
        {1: tmp_path / "1", 2: tmp_path / "2"},
        data.split,
        data.audio,
        None,
        data.windows,
        tmp_path / "metrics.json",
        tmp_path / "per_tag.csv",
        batch_size=5,
        device="cpu",
    )

    assert summary["split"] == "test"
    kept = ("auc", "best_valid_auc", "best_update")
    assert {seed: {k: r[k] for k in kept} for seed, r in summary["seeds"].items()} == {
        "1": {"auc": 1.0, "best_valid_auc": 0.6, "best_update": 100},
        "2": {"auc": 0.0, "best_valid_auc": 0.7, "best_update": 200},
    }
    assert summary["auc"] == 0.5
    assert summary["auc_std"] == pytest.approx(np.sqrt(0.5))
    assert (summary["clips"], summary["windows"]) == (6, 12)
    assert (summary["tags_evaluated"], summary["tags_excluded"]) == (1, ["never"])
    assert json.loads((tmp_path / "metrics.json").read_text()) == summary
    per_tag = pd.read_csv(tmp_path / "per_tag.csv").set_index("tag")
    assert per_tag.loc["loud", ["positives", "negatives"]].tolist() == [3, 3]
    assert per_tag.loc["loud", ["auc_seed1", "auc_seed2", "auc_mean"]].tolist() == [1, 0, 0.5]
    assert bool(per_tag.loc["never", "excluded"])
