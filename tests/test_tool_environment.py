"""Child processes of the tests see no CUDA device unless their test asks for one, so the
pipeline's `training.device: auto` trains on the CPU there and matches the CPU pins on a GPU
host too (tests/conftest.py, NO_CUDA)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.conftest import HOST_ENVIRONMENT, run_tool, tool_env

SHOW_CUDA_SETTING = "import json, os; print(json.dumps(os.environ.get('CUDA_VISIBLE_DEVICES')))"


def _child_setting(tmp_path: Path, **options) -> str | None:
    """CUDA_VISIBLE_DEVICES as a child process started by run_tool sees it."""
    result = run_tool(tmp_path, sys.executable, "-c", SHOW_CUDA_SETTING, **options)
    return json.loads(result.stdout)


def test_a_child_process_started_by_run_tool_sees_no_cuda_device(tmp_path: Path) -> None:
    assert _child_setting(tmp_path) == ""
    assert tool_env()["CUDA_VISIBLE_DEVICES"] == ""
    assert tool_env(tmp_path)["CUDA_VISIBLE_DEVICES"] == ""


def test_a_test_that_asks_for_cuda_gives_its_child_the_hosts_devices(tmp_path: Path) -> None:
    assert _child_setting(tmp_path, cuda=True) == HOST_ENVIRONMENT.get("CUDA_VISIBLE_DEVICES")
    assert _child_setting(tmp_path, CUDA_VISIBLE_DEVICES="1") == "1"  # a named device wins


def test_the_test_process_keeps_its_devices_for_the_cuda_only_tests() -> None:
    """Hiding CUDA in-process would skip tests/training/test_graph.py on every GPU host."""
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == HOST_ENVIRONMENT.get("CUDA_VISIBLE_DEVICES")


SHOW_PIPELINE = "import json, pipeline; print(json.dumps(pipeline.__file__))"


def test_a_child_process_runs_the_code_the_tests_import(tmp_path: Path) -> None:
    """Not the installed package's: in a copy of the project with a planted defect
    (tests/mutations.py) every child must run the copy's code, or the defect goes unseen."""
    import pipeline

    result = run_tool(tmp_path, sys.executable, "-c", SHOW_PIPELINE)
    assert json.loads(result.stdout) == pipeline.__file__
