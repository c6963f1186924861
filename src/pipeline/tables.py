"""Assemble the paper's tables from per-variant metrics, with the paper's numbers beside ours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import atomic
from pipeline.config import table1_variants
from pipeline.paper import TABLE1_AUC

TABLE1_COLUMNS = [
    "length",
    "stride",
    "auc_spectrogram",
    "auc_raw",
    "paper_auc_spectrogram",
    "paper_auc_raw",
]


def build_table1(params: dict[str, Any], metrics_dir: Path) -> pd.DataFrame:
    """One row per (length, stride) pair of the grid; a front end not in the grid stays empty."""
    aucs: dict[str, float] = {}
    for variant in table1_variants(params):
        summary = json.loads((metrics_dir / f"{variant.name}.json").read_text())
        aucs[variant.name] = summary["auc"]
    rows = []
    for pair in params["experiments"]["table1"]:
        length, stride = pair["length"], pair["stride"]
        paper = TABLE1_AUC.get((length, stride), (None, None))
        rows.append(
            {
                "length": length,
                "stride": stride,
                "auc_spectrogram": aucs.get(f"spectrogram_{length}_{stride}"),
                "auc_raw": aucs.get(f"raw_{length}_{stride}"),
                "paper_auc_spectrogram": paper[0],
                "paper_auc_raw": paper[1],
            }
        )
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV with four decimals, atomically."""
    atomic.write_csv(table, path, float_format="%.4f")
