"""Clip-level test evaluation of a trained variant, for every seed (paper, section 4.1).

Predictions of a clip's consecutive windows are averaged, ROC-AUC is computed per tag and
averaged over the tags that have positives in the test part; the others are listed. Each
seed's mean AUC is kept beside the mean and standard deviation over seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import atomic
from pipeline.config import Variant
from pipeline.determinism import configure_torch
from pipeline.metrics import mean_auc, per_tag_auc
from pipeline.training.batches import load_window_source
from pipeline.training.networks import load_trained, select_device
from pipeline.training.predict import clip_predictions


def evaluate_variant(
    variant: Variant,
    model_dirs: dict[int, Path],
    split_path: Path,
    audio_stem: Path,
    mel_stem: Path | None,
    windows_path: Path,
    metrics_path: Path,
    per_tag_path: Path,
    batch_size: int,
    device: str = "auto",
    split: str = "test",
    numerics: str = "portable",
    threads: int = 1,
) -> dict:
    """Write the variant's test AUC per seed and over seeds (JSON) and per tag (CSV)."""
    configure_torch(numerics, threads)
    torch_device = select_device(device, "training.device")
    windows = pd.read_csv(windows_path)
    per_tag, per_seed, source = None, {}, None
    for seed, model_dir in model_dirs.items():
        model, config = load_trained(model_dir, torch_device)
        if source is None:
            frames = config["window_frames"]
            source = load_window_source(variant, split_path, audio_stem, mel_stem, frames)
        if source.tags != config["tags"]:
            raise RuntimeError(f"{model_dir}: the model's tags differ from {split_path}; retrain")
        clip_ids, scores, labels = clip_predictions(
            model, source, windows, split, batch_size, torch_device
        )
        table = per_tag_auc(labels, scores, source.tags)
        if per_tag is None:
            per_tag = table.drop(columns=["auc"])
        per_tag[f"auc_seed{seed}"] = table["auc"]
        per_seed[seed] = {
            "auc": mean_auc(table),
            "best_valid_auc": config["best_valid_auc"],
            "best_update": config["best_update"],
        }
    assert per_tag is not None
    aucs = np.array([result["auc"] for result in per_seed.values()])
    per_tag["auc_mean"] = per_tag[[f"auc_seed{s}" for s in model_dirs]].mean(axis=1)
    summary = {
        "variant": variant.name,
        **variant.to_dict(),
        "split": split,
        "auc": float(aucs.mean()),
        "auc_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
        "seeds": {str(seed): result for seed, result in per_seed.items()},
        "clips": int(len(clip_ids)),
        "windows": int((windows["split"] == split).sum()),
        "tags_evaluated": int((~per_tag["excluded"]).sum()),
        "tags_excluded": per_tag.loc[per_tag["excluded"], "tag"].tolist(),
    }
    atomic.write_csv(per_tag, per_tag_path, float_format="%.6f")
    atomic.write_text(metrics_path, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
