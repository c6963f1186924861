"""Read and write MagnaTagATune's ``annotations_final.csv``.

The real file is tab-separated, every field (header included) wrapped in double quotes,
CRLF line ends; columns ``clip_id``, the tags in the file's own order, then ``mp3_path``.
Writing uses exactly that format so the embedded dataset is indistinguishable from MTAT.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import atomic


class AnnotationsError(ValueError):
    """The annotations file is not in MagnaTagATune's format."""


@dataclass(frozen=True)
class Annotations:
    """Clip ids, tag names (file order), a clips x tags 0/1 matrix and each clip's audio path."""

    clip_ids: np.ndarray
    tags: list[str]
    labels: np.ndarray
    mp3_paths: list[str]

    @property
    def parts(self) -> list[str]:
        """The part folder of each clip: the first path component of its ``mp3_path``."""
        return [p.split("/", 1)[0] for p in self.mp3_paths]


def read_annotations(path: str | Path) -> Annotations:
    """Parse ``annotations_final.csv``; :class:`AnnotationsError` names the file on bad input."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationsError(f"{path}: annotations file not found")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quotechar='"')
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise AnnotationsError(f"{path}: not a tab-separated annotations file ({error})") from error
    columns = list(frame.columns)
    if len(columns) < 3 or columns[0] != "clip_id" or columns[-1] != "mp3_path":
        raise AnnotationsError(
            f"{path}: expected columns clip_id, <tags...>, mp3_path; "
            f"got {columns[:2]}...{columns[-1:]}"
        )
    tags = columns[1:-1]
    values = frame[tags]
    bad = ~values.isin(["0", "1"])
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise AnnotationsError(
            f"{path}: tag values must be 0 or 1; clip_id {frame['clip_id'].iloc[row]}, "
            f"tag {tags[col]!r} holds {values.iloc[row, col]!r}"
        )
    try:
        clip_ids = frame["clip_id"].astype(np.int64).to_numpy()
    except ValueError as error:
        raise AnnotationsError(f"{path}: clip_id must be an integer ({error})") from error
    return Annotations(
        clip_ids=clip_ids,
        tags=tags,
        labels=values.to_numpy(dtype=np.uint8),
        mp3_paths=frame["mp3_path"].tolist(),
    )


def format_annotations(
    clip_ids: Sequence[int], tags: Sequence[str], labels: np.ndarray, mp3_paths: Sequence[str]
) -> str:
    """Render annotations in MTAT's exact byte format (all fields quoted, tabs, CRLF)."""
    labels = np.asarray(labels)
    if labels.shape != (len(clip_ids), len(tags)) or len(mp3_paths) != len(clip_ids):
        raise ValueError("labels must be clips x tags and there must be one mp3_path per clip")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["clip_id", *tags, "mp3_path"])
    for clip_id, row, mp3_path in zip(clip_ids, labels, mp3_paths, strict=True):
        writer.writerow([str(int(clip_id)), *(str(int(v)) for v in row), mp3_path])
    return buffer.getvalue()


def write_annotations(
    path: str | Path,
    clip_ids: Sequence[int],
    tags: Sequence[str],
    labels: np.ndarray,
    mp3_paths: Sequence[str],
) -> None:
    """Write ``annotations_final.csv`` atomically (a temporary name, then a rename)."""
    atomic.write_text(path, format_annotations(clip_ids, tags, labels, mp3_paths))
