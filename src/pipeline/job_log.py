"""A workflow job's output in its own log file (Snakemake's ``log:``), nothing lost on a crash.

Jobs that run side by side would otherwise interleave their progress bars and messages on one
terminal, and on a cluster a failed job's output is hard to find. The redirection is at the
file-descriptor level, so what C libraries print lands in the log too; the file is written as
the job goes, and an exception's traceback is written to it before the job fails (Snakemake
then names the log, and prints it with ``--show-failed-logs``).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def output_to(path: str | Path) -> Iterator[None]:
    """Send this process's stdout and stderr to ``path`` (created, or truncated) meanwhile."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            traceback.print_exc()
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
