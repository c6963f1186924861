"""Training and evaluation ask for the GPU when their networks may run on CUDA, and a local
run on a machine with CUDA gets one GPU job at a time unless its command line says otherwise
(pipeline.training.gpu_jobs, workflow/rules/common.smk)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.training.gpu_jobs import cuda_visible, gpu_request, local_gpu_budget
from tests.conftest import REPO, copy_project, run_tool

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
PAPER = ("--configfile", "config/mtat-paper.yaml", "--config", "mtat_dir=mtat")
BUDGET_NOTE = "CUDA is visible: at most one GPU job at a time (--resources gpu=1"
# Snakemake with torch made to report a GPU: the parse of the Snakefile is all a dry run needs.
FAKE_CUDA = (
    "import sys, torch; torch.cuda.is_available = lambda: True; "
    "from snakemake.cli import main; main(sys.argv[1:])"
)


def _params(device: str = "auto", **train: object) -> dict:
    return {
        "training": {**PARAMS["training"], "device": device},
        "resources": {**PARAMS["resources"], "train": {**PARAMS["resources"]["train"], **train}},
    }


def _no_cuda_check() -> bool:
    raise AssertionError("asked whether CUDA is visible (imports torch) for nothing")


@pytest.mark.parametrize(
    ("device", "train", "expected"),
    [
        ("auto", {"gpu": 1}, {"gpu": 1}),
        ("cuda", {"gpu": 2, "gpu_model": "a100"}, {"gpu": 2, "gpu_model": "a100"}),
        ("auto", {"gpu": 0, "gpu_model": "a100"}, {}),  # a cluster without GPUs
        ("cpu", {"gpu": 1}, {}),  # the networks never touch a GPU: none is held for them
    ],
)
def test_gpu_jobs_ask_for_the_training_gpu_when_their_networks_may_run_on_cuda(
    device, train, expected
):
    assert gpu_request(_params(device, **{"gpu_model": None, **train})) == expected


def test_a_local_run_on_a_cuda_machine_gets_one_gpu_job_at_a_time():
    assert local_gpu_budget(_params(gpu=1), given=False, local=True, cuda=lambda: True) == 1
    assert local_gpu_budget(_params(gpu=2), given=False, local=True, cuda=lambda: True) == 2


@pytest.mark.parametrize(
    ("params", "given", "local"),
    [
        (_params(gpu=1), True, True),  # --resources gpu=N on the command line stands
        (_params(gpu=1), False, False),  # a cluster: the scheduler gives each job its own GPU
        (_params("cpu", gpu=1), False, True),  # no job asks for a GPU
        (_params(gpu=0), False, True),
    ],
)
def test_no_budget_is_set_where_the_run_or_the_command_line_decides(params, given, local):
    assert local_gpu_budget(params, given=given, local=local, cuda=_no_cuda_check) is None


def test_no_budget_without_cuda_so_cpu_training_jobs_run_side_by_side():
    assert local_gpu_budget(_params(gpu=1), given=False, local=True, cuda=lambda: False) is None


def test_an_empty_cuda_visible_devices_means_no_cuda_whatever_torch_says(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_visible() is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert cuda_visible() is True


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("gpu_jobs"))


def _dry_run(project: Path, *arguments: str, fake_cuda: bool) -> str:
    """The paper's command (config/mtat-paper.yaml, README) as a dry run: Snakemake's output."""
    command = ("-c", FAKE_CUDA) if fake_cuda else ("-m", "snakemake")
    env = {"CUDA_VISIBLE_DEVICES": "0"} if fake_cuda else {}
    result = run_tool(project, sys.executable, *command, "-n", *arguments, *PAPER, **env)
    return result.stdout + result.stderr


def _gpu_requests(output: str) -> dict[str, set[str]]:
    """The `gpu=` each rule's jobs ask for in a dry run's plan ('-' for none)."""
    requests: dict[str, set[str]] = {}
    for rule, resources in re.findall(r"^rule (\w+):\n(?:.*\n)*?\s+resources: (.*)$", output, re.M):
        requests.setdefault(rule, set()).update(re.findall(r"\bgpu=(\d+)", resources) or {"-"})
    return requests


def test_the_paper_command_on_a_cuda_machine_runs_one_gpu_job_at_a_time(project: Path):
    output = _dry_run(project, "--cores", "8", fake_cuda=True)
    assert BUDGET_NOTE in output
    requests = _gpu_requests(output)
    assert requests["train"] == requests["evaluate"] == {"1"}  # both counted against it
    assert requests["decode_audio"] == requests["windows"] == {"-"}

    assert "CUDA is visible" not in _dry_run(
        project, "--cores", "8", "--resources", "gpu=2", fake_cuda=True
    )


def test_the_paper_command_without_cuda_sets_no_budget(project: Path):
    """The test's child processes see no CUDA device (tests/conftest.py), as a CPU host."""
    output = _dry_run(project, "--cores", "8", fake_cuda=False)
    assert "CUDA is visible" not in output
    assert _gpu_requests(output)["evaluate"] == {"1"}  # what a cluster would be asked for


def test_readme_and_the_paper_config_give_the_same_command_with_the_gpu_budget():
    """Leaving --resources gpu=1 out is safe (the default above), but the documented command
    says it, the same in both places."""
    pattern = r"^[# ]*(snakemake .*--configfile config/mtat-paper\.yaml.*)$"
    readme = re.findall(pattern, (REPO / "README.md").read_text(), re.M)
    config = re.findall(pattern, (REPO / "config/mtat-paper.yaml").read_text(), re.M)
    assert readme == config and len(readme) == 1
    assert "--cores 8 --resources gpu=1 " in readme[0]
