"""Clip-level evaluation: average window predictions per clip, then per tag the ROC-AUC (the
paper's measure) and the PR-AUC (average precision, which later MTAT papers report beside it),
each averaged over tags.

A tag with no positive (or no negative) clip in the evaluated part has no ROC curve; it is
reported as excluded and left out of both means rather than silently counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


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
    """One row per tag: positives, negatives, ROC-AUC and PR-AUC (NaN when undefined) and
    whether the tag is excluded."""
    rows = []
    for column, tag in enumerate(tags):
        truth = labels[:, column]
        positives = int(truth.sum())
        negatives = int(len(truth) - positives)
        defined = positives > 0 and negatives > 0
        auc = pr_auc = float("nan")
        if defined:
            auc = float(roc_auc_score(truth, scores[:, column]))
            pr_auc = float(average_precision_score(truth, scores[:, column]))
        rows.append(
            {
                "tag": tag,
                "positives": positives,
                "negatives": negatives,
                "auc": auc,
                "pr_auc": pr_auc,
                "excluded": not defined,
            }
        )
    return pd.DataFrame(rows)


def mean_auc(per_tag: pd.DataFrame, column: str = "auc") -> float:
    """Mean ROC-AUC (or ``column="pr_auc"``: PR-AUC) over the tags that have one."""
    defined = per_tag.loc[~per_tag["excluded"], column]
    return float(defined.mean()) if len(defined) else float("nan")
