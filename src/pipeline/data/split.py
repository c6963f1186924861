"""The paper's part-based split and tag selection.

Parts 0-b train, c validates, d-f test. The K most frequent tags are kept, counted over all
clips; ties are broken by the tag's column order in annotations_final.csv (earlier first), so
the choice is deterministic. The ``paper`` flavour keeps clips with none of the K tags (the
paper's protocol); ``cleaned`` drops them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import atomic
from pipeline.constants import PAPER_SPLIT
from pipeline.data.annotations import Annotations, read_annotations

SPLIT_COLUMNS = ["clip_id", "mp3_path", "part", "split"]
"""The leading columns of split.csv; one 0/1 column per selected tag follows."""


def select_top_tags(annotations: Annotations, n_tags: int) -> list[str]:
    """The ``n_tags`` most frequent tags (all if fewer), most frequent first; ties by file order."""
    counts = annotations.labels.sum(axis=0)
    order = sorted(range(len(annotations.tags)), key=lambda i: (-int(counts[i]), i))
    return [annotations.tags[i] for i in order[: min(n_tags, len(order))]]


def build_split(annotations: Annotations, n_tags: int, flavour: str = "paper") -> pd.DataFrame:
    """One row per clip: clip_id, mp3_path, part, split, then the selected tags as 0/1 columns."""
    if flavour not in ("paper", "cleaned"):
        raise ValueError(f"split flavour must be 'paper' or 'cleaned', not {flavour!r}")
    parts = annotations.parts
    unknown = sorted({p for p in parts if p not in PAPER_SPLIT})
    if unknown:
        raise ValueError(
            f"mp3_path must start with a part folder 0-9 or a-f; found {unknown[:5]} "
            "(is this annotations file in MagnaTagATune's layout?)"
        )
    tags = select_top_tags(annotations, n_tags)
    index = [annotations.tags.index(t) for t in tags]
    frame = pd.DataFrame(
        {
            "clip_id": annotations.clip_ids,
            "mp3_path": annotations.mp3_paths,
            "part": parts,
            "split": [PAPER_SPLIT[p] for p in parts],
        }
    )
    labels = pd.DataFrame(annotations.labels[:, index].astype(np.uint8), columns=tags)
    frame = pd.concat([frame, labels], axis=1)
    if flavour == "cleaned":
        frame = frame[labels.to_numpy().any(axis=1)].reset_index(drop=True)
    return frame


def tag_columns(split: pd.DataFrame) -> list[str]:
    """The selected tags of a split table, in its (frequency) order."""
    return [c for c in split.columns if c not in SPLIT_COLUMNS]


def read_split(path: str | Path) -> pd.DataFrame:
    """Read split.csv back with clip ids as integers and parts as strings."""
    return pd.read_csv(path, dtype={"part": str, "mp3_path": str, "split": str})


def write_split(
    annotations_path: str | Path, out_path: str | Path, n_tags: int, flavour: str
) -> pd.DataFrame:
    """Build the split from an annotations file and write it atomically."""
    split = build_split(read_annotations(annotations_path), n_tags, flavour)
    atomic.write_csv(split, out_path)
    return split


def split_summary(split: pd.DataFrame) -> pd.DataFrame:
    """Clips per split and how many carry none of the selected tags (for logs and notes)."""
    tags = tag_columns(split)
    untagged = split[tags].sum(axis=1) == 0
    summary = (
        split.assign(untagged=untagged)
        .groupby("split", sort=False)
        .agg(clips=("clip_id", "size"), clips_without_tags=("untagged", "sum"))
    )
    return summary.reindex(["train", "valid", "test"]).fillna(0).astype(int)
