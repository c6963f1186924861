"""Clip-level evaluation: average window predictions per clip, then per tag the ROC-AUC (the
paper's measure) and the PR-AUC (average precision, which later MTAT papers report beside it),
each averaged over tags.

Both measures are computed here with numpy alone. The PR-AUC repeats scikit-learn's
``average_precision_score`` operation for operation, so its bytes are scikit-learn's
(tests/test_metrics.py compares them bit for bit), and no evaluation job pays for importing
scikit-learn: about 1.4 s of CPU (``python -X importtime -c "import sklearn.metrics"``), some 40 %
of an evaluation job of the tiny grid. pandas is imported where the per-tag table is built, not
at the top: ``e2e-tag`` needs only :func:`average_windows`.

A tag with no positive (or no negative) clip in the evaluated part has no ROC curve; it is
reported as excluded and left out of both means rather than silently counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def average_windows(
    clip_ids: np.ndarray, window_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean prediction of each clip's windows; returns (unique clip ids, clips x tags scores)."""
    unique, inverse = np.unique(clip_ids, return_inverse=True)
    sums = np.zeros((len(unique), window_scores.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, window_scores)
    counts = np.bincount(inverse, minlength=len(unique))[:, None]
    return unique, sums / counts


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of each column's scores, tied scores sharing their mean rank."""
    n = len(scores)
    order = np.argsort(scores, axis=0, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=0)
    position = np.arange(n)[:, None]
    differs = ranked[1:] != ranked[:-1]
    edge = np.ones((1, scores.shape[1]), dtype=bool)
    first = np.maximum.accumulate(np.where(np.r_[edge, differs], position, 0), axis=0)
    last = np.where(np.r_[differs, edge], position, n)[::-1]
    last = np.minimum.accumulate(last, axis=0)[::-1]
    ranks = np.empty(scores.shape)
    np.put_along_axis(ranks, order, (first + last + 2) / 2.0, axis=0)
    return ranks


def roc_auc_per_tag(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each tag's ROC-AUC (NaN where the tag has no positive or no negative clip).

    The area under the ROC curve is the chance that a positive clip outscores a negative
    one, ties counting half: the Mann-Whitney statistic from the scores' ranks, for every tag
    at once. Rank sums are exact in float64, so the value has one rounding and is the same on
    any machine; it equals scikit-learn's ``roc_auc_score`` to ~1e-16 (tests/test_metrics.py)
    at a fraction of its cost, which matters because training validates every few hundred
    updates.
    """
    labels = np.asarray(labels, dtype=bool)
    positives = labels.sum(axis=0).astype(np.float64)
    negatives = len(labels) - positives
    rank_sums = np.where(labels, _average_ranks(np.asarray(scores, dtype=np.float64)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sums.sum(axis=0) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def mean_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The mean ROC-AUC over the tags that have one (what validation selects models by)."""
    aucs = roc_auc_per_tag(labels, scores)
    return float(np.mean(aucs[~np.isnan(aucs)])) if not np.isnan(aucs).all() else float("nan")


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """One tag's PR-AUC: the mean of the precisions at each positive's rank, tied scores
    forming one threshold (needs a positive clip).

    The steps and their order are scikit-learn's ``average_precision_score`` (1.9): clips
    sorted by descending score, one threshold where the score changes, cumulative true
    positives at each, precision and recall reversed, then ``-sum(diff(recall) *
    precision[:-1])`` with numpy's pairwise sum, so that every rounding, and so the bytes of
    the pinned metrics, are the same.
    """
    truth = np.asarray(truth, dtype=bool)
    scores = np.asarray(scores)
    order = np.argsort(scores, kind="stable")[::-1]  # ties' order cannot move a threshold's count
    ranked = scores[order]
    hits = truth[order].astype(np.float64)
    thresholds = np.r_[np.nonzero(np.diff(ranked))[0], len(ranked) - 1]
    true_positives = np.cumsum(hits, dtype=np.float64)[thresholds]
    # scikit-learn divides by true + false positives, 1 + threshold exactly (whole numbers)
    precision = true_positives / (thresholds + 1.0)
    recall = true_positives / true_positives[-1]
    precision = np.concatenate((precision[::-1], [1.0]))
    recall = np.concatenate((recall[::-1], [0.0]))
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def per_tag_auc(labels: np.ndarray, scores: np.ndarray, tags: list[str]) -> pd.DataFrame:
    """One row per tag: positives, negatives, ROC-AUC and PR-AUC (NaN when undefined) and
    whether the tag is excluded."""
    import pandas as pd

    aucs = roc_auc_per_tag(labels, scores)
    rows = []
    for column, tag in enumerate(tags):
        truth = labels[:, column]
        positives = int(truth.sum())
        negatives = int(len(truth) - positives)
        defined = positives > 0 and negatives > 0
        pr_auc = float("nan")
        if defined:
            pr_auc = average_precision(truth, scores[:, column])
        rows.append(
            {
                "tag": tag,
                "positives": positives,
                "negatives": negatives,
                "auc": float(aucs[column]),
                "pr_auc": pr_auc,
                "excluded": not defined,
            }
        )
    return pd.DataFrame(rows)


def mean_auc(per_tag: pd.DataFrame, column: str = "auc") -> float:
    """Mean ROC-AUC (or ``column="pr_auc"``: PR-AUC) over the tags that have one."""
    defined = per_tag.loc[~per_tag["excluded"], column]
    return float(defined.mean()) if len(defined) else float("nan")
