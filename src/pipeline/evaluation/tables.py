"""Assemble the tables from per-variant metrics, with the paper's numbers beside ours.

Every AUC is the mean over seeds with its standard deviation (``*_std``): ROC-AUC (``auc``,
the paper's measure) and PR-AUC (``pr_auc``, average precision); the per-seed values are in
reports/metrics/<dataset>/<variant>.json. Table 1 adds two paired tests of
spectrograms against raw audio per row: a paired t-test over seeds (same seed, two front
ends) and a Wilcoxon signed-rank test over tags (seed-mean AUC per tag).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.config import TABLE_VARIANTS, Variant
from pipeline.evaluation.paper import TABLE1_AUC, TABLE2_AUC, TABLE3_AUC

TABLE1_COLUMNS = [
    "length", "stride", "auc_spectrogram", "auc_raw", "paper_auc_spectrogram", "paper_auc_raw",
    "auc_spectrogram_std", "auc_raw_std", "pr_auc_spectrogram", "pr_auc_raw",
    "pr_auc_spectrogram_std", "pr_auc_raw_std", "seeds", "p_seeds_ttest", "p_tags_wilcoxon",
]  # fmt: skip
MEASURES = ("auc", "pr_auc")
FORMULAS = {"relu": "max(0, x)", "log_x2": "log(1 + C x^2)", "log_abs_x": "log(1 + C |x|)"}


@dataclass(frozen=True)
class TableInputs:
    """What a table reads besides the metrics: its variants in grid order, the front ends
    compared (Table 1) and the strided layer's filter count (Table 3's features)."""

    front_ends: tuple[str, ...]
    variants: tuple[Variant, ...]
    raw_filters: int

    @classmethod
    def from_params(cls, params: dict[str, Any], table: str) -> TableInputs:
        return cls(
            front_ends=tuple(params["experiments"]["front_ends"]),
            variants=tuple(TABLE_VARIANTS[table](params)),
            raw_filters=params["model"]["raw_filters"],
        )


def _summary(metrics_dir: Path, variant: Variant) -> dict[str, Any]:
    path = metrics_dir / f"{variant.name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; evaluate variant {variant.name} first")
    return json.loads(path.read_text())


def _per_tag(metrics_dir: Path, variant: Variant) -> pd.DataFrame:
    return pd.read_csv(metrics_dir / f"{variant.name}_per_tag.csv")


def _seed_pairs(
    metrics_dir: Path, first: Variant, second: Variant
) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's mean AUC of two variants, paired by seed (the paper's design: every
    variant trained once per seed, so a seed's two results form a pair)."""
    a, b = _summary(metrics_dir, first), _summary(metrics_dir, second)
    if set(a["seeds"]) != set(b["seeds"]):
        raise ValueError(
            f"{first.name} was evaluated with seeds {sorted(map(int, a['seeds']))} and "
            f"{second.name} with {sorted(map(int, b['seeds']))}: a paired test needs the same "
            "seeds; evaluate both with experiments.seeds"
        )
    seeds = sorted(a["seeds"])
    x = np.array([a["seeds"][s]["auc"] for s in seeds])
    y = np.array([b["seeds"][s]["auc"] for s in seeds])
    return x, y


def _tag_pairs(metrics_dir: Path, first: Variant, second: Variant) -> pd.DataFrame:
    """The seed-mean AUC of each tag in both variants (columns ``first`` and ``second``),
    paired by tag name, leaving out tags excluded in either (no positive test clip)."""
    tags_a, tags_b = _per_tag(metrics_dir, first), _per_tag(metrics_dir, second)
    if sorted(tags_a["tag"]) != sorted(tags_b["tag"]):
        raise ValueError(
            f"{first.name} and {second.name} were evaluated on different tags; "
            "evaluate both on the same split.csv"
        )
    paired = tags_a.merge(tags_b, on="tag", suffixes=("_first", "_second"), validate="1:1")
    usable = ~(paired["excluded_first"] | paired["excluded_second"])
    return pd.DataFrame(
        {
            "tag": paired.loc[usable, "tag"],
            "first": paired.loc[usable, "auc_mean_first"],
            "second": paired.loc[usable, "auc_mean_second"],
        }
    )


def paired_tests(metrics_dir: Path, first: Variant, second: Variant) -> tuple[float, float]:
    """p-values of first vs second: a paired t-test over seeds (each seed's mean AUC, same
    seed paired) and a Wilcoxon signed-rank test over tags (each tag's seed-mean AUC, same tag
    paired); NaN where every difference is zero (or, for the t-test, with one seed)."""
    x, y = _seed_pairs(metrics_dir, first, second)
    p_seeds = float(stats.ttest_rel(x, y).pvalue) if len(x) > 1 and np.any(x != y) else np.nan
    tags = _tag_pairs(metrics_dir, first, second)
    diff = tags["first"] - tags["second"]
    p_tags = float(stats.wilcoxon(diff).pvalue) if (diff != 0).any() else np.nan
    return p_seeds, p_tags


def build_table1(inputs: TableInputs, metrics_dir: Path) -> pd.DataFrame:
    """One row per (length, stride) pair: spectrograms vs raw audio."""
    front_ends = inputs.front_ends
    rows = []
    # Table 1's variants list each grid pair once per front end, so every len(front_ends)-th
    # variant starts the next pair.
    for first in inputs.variants[:: len(front_ends)]:
        length, stride = first.length, first.stride
        paper = TABLE1_AUC.get((length, stride), (None, None))
        row: dict[str, Any] = {"length": length, "stride": stride}
        for front_end in ("spectrogram", "raw"):
            if front_end in front_ends:
                summary = _summary(metrics_dir, Variant(front_end, length, stride))
                for measure in MEASURES:
                    row[f"{measure}_{front_end}"] = summary[measure]
                    row[f"{measure}_{front_end}_std"] = summary[f"{measure}_std"]
                row["seeds"] = len(summary["seeds"])
        row["paper_auc_spectrogram"], row["paper_auc_raw"] = paper
        if {"spectrogram", "raw"} <= set(front_ends):
            row["p_seeds_ttest"], row["p_tags_wilcoxon"] = paired_tests(
                metrics_dir, Variant("spectrogram", length, stride), Variant("raw", length, stride)
            )
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=TABLE1_COLUMNS)


def _row(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "auc": summary["auc"],
        "auc_std": summary["auc_std"],
        "pr_auc": summary["pr_auc"],
        "pr_auc_std": summary["pr_auc_std"],
        "seeds": len(summary["seeds"]),
    }


def build_table2(inputs: TableInputs, metrics_dir: Path) -> pd.DataFrame:
    """Raw audio: the strided layer's nonlinearity."""
    rows = [
        {
            "nonlinearity": v.nonlinearity,
            "f(x)": FORMULAS[v.nonlinearity],
            **_row(_summary(metrics_dir, v)),
            "paper_auc": TABLE2_AUC.get(v.nonlinearity),
        }
        for v in inputs.variants
    ]
    return pd.DataFrame(rows)


def build_table3(inputs: TableInputs, metrics_dir: Path) -> pd.DataFrame:
    """Raw audio: pooling across groups of strided-layer filters, with the parameters of the
    trained networks (pooling shrinks the next layer), as evaluation counted them."""
    rows = []
    for v in inputs.variants:
        summary = _summary(metrics_dir, v)
        rows.append({
            "pooling": v.pooling,
            "pool_size": v.pool_size,
            "features": inputs.raw_filters // v.pool_size,
            "parameters": summary["parameters"],
            **_row(summary),
            "paper_auc": TABLE3_AUC.get((v.pooling, v.pool_size)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def build_table4(inputs: TableInputs, metrics_dir: Path) -> pd.DataFrame:
    """Beyond the paper: mel-sinusoid vs random initialisation of the strided layer."""
    rows = []
    for v in inputs.variants:
        summary = _summary(metrics_dir, v)
        paper = TABLE1_AUC.get((v.length, v.stride), (None, None))
        published = (
            paper[0] if v.front_end == "spectrogram" else paper[1] if v.init == "random" else None
        )
        rows.append({
            "length": v.length,
            "stride": v.stride,
            "model": "spectrogram" if v.front_end == "spectrogram" else f"raw, {v.init} init",
            **_row(summary),
            "paper_auc": published,
        })  # fmt: skip
    return pd.DataFrame(rows)


TABLE_BUILDERS: dict[str, Callable[[TableInputs, Path], pd.DataFrame]] = {
    "table1": build_table1,
    "table2": build_table2,
    "table3": build_table3,
    "table4": build_table4,
}
