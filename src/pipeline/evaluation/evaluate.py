"""Clip-level test evaluation of a trained variant, for every seed (paper, section 4.1).

Predictions of a clip's consecutive windows are averaged, ROC-AUC is computed per tag and
averaged over the tags that have positives in the test part; the others are listed. Each
seed's mean AUC is kept beside the mean and standard deviation over seeds. The metrics name
the clips they scored (their count and :func:`clip_ids_digest`), so a check can tell that they
are the test part's and not another part's of the same size.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import atomic
from pipeline.config import Variant
from pipeline.determinism import configure_torch
from pipeline.metrics import mean_auc, per_tag_auc
from pipeline.training.batches import load_window_source
from pipeline.training.networks import load_trained, select_device
from pipeline.training.predict import clip_predictions

MEASURES = ("auc", "pr_auc")
"""ROC-AUC (the paper's) and PR-AUC (average precision), per tag, per seed and over seeds."""


def clip_ids_digest(clip_ids: np.ndarray) -> str:
    """SHA-256 of clip ids written in ascending order, one decimal number and a newline each.

    Which clips were scored, in 64 characters whatever the part's size (MTAT's test part has
    ~6,000 clips: listing them would swamp the metrics file); anyone can recompute it from
    split.csv to check that the evaluation scored exactly the test part.
    """
    text = "".join(f"{int(clip)}\n" for clip in np.sort(np.asarray(clip_ids)))
    return hashlib.sha256(text.encode()).hexdigest()


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
    """Write the variant's test ROC-AUC and PR-AUC per seed and over seeds (JSON) and per tag
    (CSV), and the trained network's parameter count (Table 3 reports it)."""
    torch_device = select_device(device, "training.device")  # no tensor operation
    configure_torch(numerics, threads, device=str(torch_device))
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
            per_tag = table.drop(columns=list(MEASURES))
        for measure in MEASURES:
            per_tag[f"{measure}_seed{seed}"] = table[measure]
        per_seed[seed] = {
            **{measure: mean_auc(table, measure) for measure in MEASURES},
            "best_valid_auc": config["best_valid_auc"],
            "best_update": config["best_update"],
        }
        parameters = sum(p.numel() for p in model.parameters())
    assert per_tag is not None
    summary: dict[str, Any] = {"variant": variant.name, **variant.to_dict(), "split": split}
    for measure in MEASURES:
        values = np.array([result[measure] for result in per_seed.values()])
        per_tag[f"{measure}_mean"] = per_tag[[f"{measure}_seed{s}" for s in model_dirs]].mean(
            axis=1
        )
        summary[measure] = float(values.mean())
        summary[f"{measure}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    summary.update(
        {
            "parameters": int(parameters),
            "seeds": {str(seed): result for seed, result in per_seed.items()},
            "clips": int(len(clip_ids)),
            "clip_ids_sha256": clip_ids_digest(clip_ids),
            "windows": int((windows["split"] == split).sum()),
            "tags_evaluated": int((~per_tag["excluded"]).sum()),
            "tags_excluded": per_tag.loc[per_tag["excluded"], "tag"].tolist(),
        }
    )
    atomic.write_csv(per_tag, per_tag_path, float_format="%.6f")
    atomic.write_text(metrics_path, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
