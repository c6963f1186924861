"""The training protocol end to end on tiny data: a planted signal is learnt and measured on
the test part, and the parameters kept are those of the best validation, not the last."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from pipeline.config import Variant
from pipeline.evaluation.evaluate import evaluate_variant
from pipeline.training import loop
from pipeline.training.loop import train_variant
from tests.protocol_data import Dataset, planted_tone_dataset, tiny_job

RAW = Variant("raw", 256, 256)


@pytest.fixture(scope="module")
def raw_data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return planted_tone_dataset(tmp_path_factory.mktemp("planted_raw"))


def _train(data: Dataset, job_dir: Path, variant: Variant = RAW, **job) -> pd.DataFrame:
    """Train seed 1 of ``variant`` into ``job_dir`` (its model in ``job_dir/seed1``)."""
    histories = train_variant(
        tiny_job(variant, **job), data.split, data.audio, data.mel, data.windows, job_dir, False
    )
    return histories[1]


def _test_auc_of_tone(data: Dataset, variant: Variant, model_dir: Path, folder: Path) -> float:
    evaluate_variant(
        variant,
        {1: model_dir},
        data.split,
        data.audio,
        data.mel,
        data.windows,
        folder / "metrics.json",
        folder / "per_tag.csv",
        batch_size=16,
        device="cpu",
    )
    return float(pd.read_csv(folder / "per_tag.csv").set_index("tag").loc["tone", "auc_seed1"])


def test_raw_audio_model_learns_a_planted_tone(raw_data: Dataset, tmp_path: Path) -> None:
    _train(raw_data, tmp_path / "model", updates=300, validate_every=100)
    assert _test_auc_of_tone(raw_data, RAW, tmp_path / "model" / "seed1", tmp_path) > 0.95


def _load(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _script_validation(monkeypatch: pytest.MonkeyPatch, aucs: list[float]) -> None:
    """Make the loop see these validation AUCs, one per validation, in order."""
    remaining = iter(aucs)
    monkeypatch.setattr(loop, "mean_roc_auc", lambda labels, scores: next(remaining))


def test_the_best_validation_parameters_are_kept_not_the_last(
    raw_data: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation AUCs scripted to peak at update 4 of 8: model.pt must hold the parameters of
    update 4, which a run stopped at update 4 ends with (training is deterministic)."""
    _script_validation(monkeypatch, [0.6, 0.9, 0.7, 0.8])
    history = _train(raw_data, tmp_path / "best_at_4", updates=8, validate_every=2)
    assert history["best"].tolist() == [True, True, False, False]
    _script_validation(monkeypatch, [0.1, 0.2])
    _train(raw_data, tmp_path / "stopped_at_4", updates=4, validate_every=2)
    _script_validation(monkeypatch, [0.1, 0.2, 0.3, 0.4])
    _train(raw_data, tmp_path / "last_of_8", updates=8, validate_every=2)

    config = json.loads((tmp_path / "best_at_4" / "seed1" / "config.json").read_text())
    assert (config["best_update"], config["best_valid_auc"]) == (4, 0.9)
    kept = _load(tmp_path / "best_at_4" / "seed1" / "model.pt")
    at_4 = _load(tmp_path / "stopped_at_4" / "seed1" / "model.pt")
    last = _load(tmp_path / "last_of_8" / "seed1" / "model.pt")
    assert all(torch.equal(kept[name], at_4[name]) for name in kept)
    assert not all(torch.equal(kept[name], last[name]) for name in kept)
