"""How ``e2e-tag`` prints results: a table for people, JSON and CSV for programs.

Every writer takes the results, the number of tags per file and a text stream. A file that
could not be used is listed with its error only in JSON; table and CSV leave it out (the
command reports it on stderr either way).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from typing import TextIO

from pipeline.tagging.inference import TagResult


def write_table(results: Sequence[TagResult], top: int, stream: TextIO) -> None:
    """Per file a header (duration, windows) and its top tags, ranked and aligned."""
    for result in results:
        if result.error is not None:
            continue
        print(f"{result.path}  ({result.duration_s:.1f} s, {result.windows} windows)", file=stream)
        width = max(len(tag) for tag, _ in result.top(top))
        for rank, (tag, probability) in enumerate(result.top(top), start=1):
            print(f"  {rank:>2}. {tag:<{width}}  {probability:.3f}", file=stream)


def write_json(results: Sequence[TagResult], top: int, stream: TextIO) -> None:
    """A JSON list with one object per file: its top tags, or its error."""
    rows = [
        {"path": r.path, "error": r.error}
        if r.error is not None
        else {
            "path": r.path,
            "tags": [{"tag": t, "probability": round(p, 4)} for t, p in r.top(top)],
            "windows": r.windows,
            "duration_s": round(r.duration_s, 3),
        }
        for r in results
    ]
    # one file per line: readable, greppable, and still a single valid JSON document
    stream.write("[\n" + ",\n".join(f"  {json.dumps(row)}" for row in rows) + "\n]\n")


def write_csv(results: Sequence[TagResult], top: int, stream: TextIO) -> None:
    """One row per (file, tag): path, rank, tag, probability."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["path", "rank", "tag", "probability"])
    for result in results:
        for rank, (tag, probability) in enumerate(result.top(top), start=1):
            writer.writerow([result.path, rank, tag, f"{probability:.4f}"])


FORMATS: dict[str, Callable[[Sequence[TagResult], int, TextIO], None]] = {
    "table": write_table,
    "json": write_json,
    "csv": write_csv,
}
"""``--format`` name -> writer."""
