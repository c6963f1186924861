"""Clip-level evaluation: average window predictions per clip, ROC-AUC per tag, mean over tags.

A tag with no positive (or no negative) clip in the evaluated part has no ROC curve; it is
reported as excluded and left out of the mean rather than silently counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def average_windows(
    clip_ids: np.ndarray, window_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean prediction of each clip's windows; returns (unique clip ids, clips x tags scores)."""
    unique, inverse = np.unique(clip_ids, return_inverse=True)
    sums = np.zeros((len(unique), window_scores.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, window_scores)
    counts = np.bincount(inverse, minlength=len(unique))[:, None]
    return unique, sums / counts


def per_tag_auc(labels: np.ndarray, scores: np.ndarray, tags: list[str]) -> pd.DataFrame:
    """One row per tag: positives, negatives, AUC (NaN when undefined) and whether excluded."""
    rows = []
    for column, tag in enumerate(tags):
        truth = labels[:, column]
        positives = int(truth.sum())
        negatives = int(len(truth) - positives)
        defined = positives > 0 and negatives > 0
        auc = float(roc_auc_score(truth, scores[:, column])) if defined else float("nan")
        rows.append(
            {
                "tag": tag,
                "positives": positives,
                "negatives": negatives,
                "auc": auc,
                "excluded": not defined,
            }
        )
    return pd.DataFrame(rows)


def mean_auc(per_tag: pd.DataFrame) -> float:
    """Mean AUC over the tags that have one."""
    defined = per_tag.loc[~per_tag["excluded"], "auc"]
    return float(defined.mean()) if len(defined) else float("nan")
