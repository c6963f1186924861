"""Clip-level test evaluation of a trained variant (paper, section 4.1).

Predictions of a clip's consecutive windows are averaged, ROC-AUC is computed per tag and
averaged over the tags that have positives in the test part; the others are listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.config import Variant
from pipeline.data import load_window_source
from pipeline.metrics import mean_auc, per_tag_auc
from pipeline.models import load_trained
from pipeline.predict import clip_predictions
from pipeline.train import select_device


def evaluate_variant(
    variant: Variant,
    model_dir: Path,
    split_path: Path,
    audio_stem: Path,
    mel_stem: Path | None,
    windows_path: Path,
    metrics_path: Path,
    per_tag_path: Path,
    batch_size: int,
    device: str = "auto",
    split: str = "test",
) -> dict:
    """Write the variant's mean test AUC (JSON) and its per-tag AUCs (CSV); return the summary."""
    torch_device = select_device(device)
    model, config = load_trained(model_dir, torch_device)
    source = load_window_source(variant, split_path, audio_stem, mel_stem, config["window_frames"])
    if source.tags != config["tags"]:
        raise RuntimeError(f"{model_dir}: the model's tags differ from {split_path}; retrain it")
    windows = pd.read_csv(windows_path)
    clip_ids, scores, labels = clip_predictions(
        model, source, windows, split, batch_size, torch_device
    )
    per_tag = per_tag_auc(labels, scores, source.tags)
    summary = {
        "variant": variant.name,
        **variant.to_dict(),
        "split": split,
        "auc": mean_auc(per_tag),
        "clips": int(len(clip_ids)),
        "windows": int((windows["split"] == split).sum()),
        "tags_evaluated": int((~per_tag["excluded"]).sum()),
        "tags_excluded": per_tag.loc[per_tag["excluded"], "tag"].tolist(),
        "best_valid_auc": config["best_valid_auc"],
        "best_update": config["best_update"],
    }
    for path in (metrics_path, per_tag_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    per_tag.to_csv(per_tag_path, index=False, float_format="%.6f")
    metrics_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
