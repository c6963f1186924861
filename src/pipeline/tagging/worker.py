"""Score files in a fresh process that has the model's kernels, for a caller that cannot.

torch fixes its CPU kernels at a process's first tensor operation, so a Python process that
did any torch work before :func:`pipeline.tagging.tag_files` (a notebook, a benchmark) can no
longer switch to the portable numerics a model was trained with. Rather than refuse, or tag
with other kernels and scores that differ from evaluation's, ``tag_files`` hands the files to
a fresh interpreter running this module: it sets the numerics before its first operation,
scores the files exactly as ``tag_files`` does in a fresh process, and sends the results
back. Each such call pays the worker's start (importing torch, loading the pinned library and
the model): 1.5-1.7 s on one core (``python benchmarks/tag_throughput.py``, committed run in
benchmarks/results/tag_throughput.md).

The request and the results travel through files in a private temporary folder (results
pickled: the worker is this package, started by the caller, on the caller's own paths); the
worker's progress bar and notes go to the caller's stderr.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline.tagging.models import UsageError

SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding this ``pipeline`` package: first on the worker's path, so the worker
runs this very code whatever the caller's sys.path was (a notebook's, a test's)."""


def score_in_worker(
    model_dir: str | Path,
    files: list[Path],
    *,
    batch_size: int,
    threads: int,
    numerics: str,
    asked: bool,
    progress: bool,
) -> list[Any]:
    """:func:`pipeline.tagging.inference.tag_files_here` on the CPU, in a fresh process.

    Returns its ``TagResult`` list; raises :class:`UsageError` with the worker's message when
    the fresh process cannot have the numerics either, and :class:`RuntimeError` when the
    worker dies.
    """
    request = {
        "model_dir": str(model_dir),
        "files": [str(path) for path in files],
        "batch_size": batch_size,
        "threads": threads,
        "numerics": numerics,
        "asked": asked,
        "progress": progress,
    }
    with tempfile.TemporaryDirectory(prefix="e2e-tag-worker-") as scratch:
        request_file, results_file = Path(scratch, "request.json"), Path(scratch, "results.pkl")
        request_file.write_text(json.dumps(request))
        command = [sys.executable, "-m", __name__, str(request_file), str(results_file)]
        done = subprocess.run(command, env=_worker_environment(), stdout=subprocess.DEVNULL)
        if done.returncode != 0 or not results_file.is_file():
            raise RuntimeError(
                f"the tagging worker process ({' '.join(command[:3])}) exited with status "
                f"{done.returncode} before sending its results; its error is above on stderr"
            )
        outcome = pickle.loads(results_file.read_bytes())
    if "usage_error" in outcome:
        raise UsageError(outcome["usage_error"])
    return outcome["results"]


def _worker_environment() -> dict[str, str]:
    """The caller's environment, with this package first on the import path."""
    environment = dict(os.environ)
    inherited = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), inherited]))
    return environment


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.tagging.worker REQUEST.json RESULTS.pkl`` (what
    :func:`score_in_worker` runs): a usage error is sent back, not raised."""
    request_file, results_file = argv if argv is not None else sys.argv[1:]
    from pipeline.tagging.inference import tag_files_here

    request = json.loads(Path(request_file).read_text())
    try:
        outcome: dict[str, Any] = {"results": tag_files_here(**request)}
    except UsageError as error:
        outcome = {"usage_error": str(error)}
    Path(results_file).write_bytes(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
