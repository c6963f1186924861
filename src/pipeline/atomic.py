"""Write files so that a crash never leaves a half-written file under its final name.

Everything is written to ``NAME.partial`` beside the target and renamed into place, which
is atomic on one filesystem; Snakemake and DVC therefore only ever see complete outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type: tagging one file need not import pandas
    import pandas as pd

PARTIAL_SUFFIX = ".partial"
"""Suffix of a file still being written (or, for downloads, not yet verified)."""


def partial_path(path: str | Path) -> Path:
    """The temporary name a file is written under before it is renamed into place."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as partial:
        partial.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv_options: object) -> None:
    """Write a DataFrame as CSV (without its index) atomically."""
    with atomic_path(path) as partial:
        frame.to_csv(partial, index=False, **to_csv_options)
