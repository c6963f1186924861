"""A workflow job's log holds everything it printed, C libraries' output and a crash's
traceback included, and the terminal gets its streams back afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import tool_env


def _run(tmp_path, body: str) -> subprocess.CompletedProcess:
    """Run ``body`` inside ``output_to(tmp_path/logs/job.log)`` in a fresh interpreter."""
    code = "\n".join(
        [
            "import os, sys",
            "from pipeline.job_log import output_to",
            f"with output_to({str(tmp_path / 'logs' / 'job.log')!r}):",
            textwrap.indent(textwrap.dedent(body).strip(), "    "),
            "print('after the job')",
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=tool_env(), capture_output=True, text=True, timeout=60
    )


def test_the_log_gets_python_and_c_level_output_and_the_terminal_gets_it_back(tmp_path):
    done = _run(
        tmp_path,
        """
        print("to stdout")
        print("to stderr", file=sys.stderr)
        os.write(2, b"from C\\n")
        """,
    )
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "logs" / "job.log").read_text()
    assert log.splitlines() == ["to stdout", "to stderr", "from C"]
    assert done.stdout == "after the job\n" and done.stderr == ""


def test_a_crash_leaves_its_traceback_in_the_log(tmp_path):
    done = _run(tmp_path, 'print("working")\nraise RuntimeError("the cache is corrupt")')
    assert done.returncode != 0
    log = (tmp_path / "logs" / "job.log").read_text()
    assert log.startswith("working\n") and "RuntimeError: the cache is corrupt" in log
    assert "RuntimeError: the cache is corrupt" in done.stderr  # and on the terminal
