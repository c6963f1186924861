"""Shared fixtures: the real MTAT files in ../shared/mtat (skipped with a reason when absent)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from filelock import FileLock

from pipeline.config import merge_params
from pipeline.determinism import use_numerics

# Portable numerics for every in-process test, chosen before any test runs a tensor operation
# (torch fixes its kernels at the first one), as the pipeline's own processes do.
HOST_ENVIRONMENT = dict(os.environ)
"""The environment before the lines below: child processes choose their own numerics."""
use_numerics("portable")
# cuBLAS reads its workspace setting when CUDA first uses it, and deterministic algorithms
# (training's, pipeline.determinism) refuse cuBLAS without it: set before any test touches CUDA.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

NO_CUDA = {"CUDA_VISIBLE_DEVICES": ""}
"""What every child process gets unless its test asks for CUDA (``tool_env(cuda=True)``).

Every test runs on the CPU unless it asks for CUDA, so the suite passes on a GPU host too:
the pipeline's own default, ``training.device: auto``, would train and evaluate on a GPU there,
and a model trained on CUDA cannot match the CPU-pinned hashes (dvc.lock, tests/reference).
Child processes (``run_tool``, ``tool_env``: Snakemake, DVC, ``python -m pipeline``) are
started with no CUDA device visible. The test process itself keeps its GPU, because the
CUDA-only tests (tests/training/test_graph.py, the ``cuda`` parametrisations) run in it and
CUDA reads ``CUDA_VISIBLE_DEVICES`` once, when it starts: in-process tests that train, evaluate
or tag name their device (``cpu``) instead of relying on ``auto``.
"""

REPO = Path(__file__).resolve().parents[1]
SHARED_MTAT = REPO.parent / "shared" / "mtat"
REAL_CLIP = SHARED_MTAT / "audio" / "e" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"


def _need_shared(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real MTAT fixture {path} is absent (tests read it from ../shared/mtat)")


@pytest.fixture(scope="session")
def real_metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the real annotations_final.csv and clip_info_final.csv, unpacked once."""
    folder = tmp_path_factory.mktemp("mtat")
    for name in ("annotations_final.csv", "clip_info_final.csv"):
        source = SHARED_MTAT / f"{name}.gz"
        _need_shared(source)
        with gzip.open(source, "rb") as packed, open(folder / name, "wb") as plain:
            shutil.copyfileobj(packed, plain)
    return folder


@pytest.fixture(scope="session")
def real_annotations(real_metadata: Path) -> Path:
    """The real annotations_final.csv."""
    return real_metadata / "annotations_final.csv"


@pytest.fixture(scope="session")
def real_clip() -> Path:
    """One real MTAT clip (part e)."""
    _need_shared(REAL_CLIP)
    return REAL_CLIP


def write_tone(
    path: Path,
    seconds: float,
    frequency: float = 440.0,
    rate: int = 16000,
    channels: int = 1,
    fmt: str = "MP3",
) -> Path:
    """A sine tone file for decoding tests."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, format=fmt)
    return path


# A small grid (7 variants, 2 seeds) trained for 40 updates: the whole DAG in about a minute.
TINY = yaml.safe_load((REPO / "tests/tiny_grid.yaml").read_text())


NO_SLURM = REPO / "tests/no_slurm"
"""A stand-in ``scontrol`` that fails at once, first on every child's PATH but the SLURM
test's: Snakemake's SLURM plugin asks ``scontrol show config`` each time Snakemake starts, and
where SLURM's client is installed with no controller running (on CI, once
tests/end_to_end/test_slurm.py has stopped its cluster) the real one retries for 9 s."""


def tool_env(
    workdir: Path | None = None, *, cuda: bool = False, slurm: bool = False, **extra: str
) -> dict[str, str]:
    """This interpreter first on PATH (dvc.yaml says `python`); ``workdir``'s code when it is
    a project copy, else the code these tests import (never the installed package's: a copy
    with a planted defect, tests/mutations.py, must run its own code in every child); no CUDA
    device visible unless ``cuda`` (see :data:`NO_CUDA`); SLURM's real ``scontrol`` only
    with ``slurm`` (see :data:`NO_SLURM`)."""
    env = {**HOST_ENVIRONMENT, "DVC_NO_ANALYTICS": "1", **({} if cuda else NO_CUDA), **extra}
    front = [str(Path(sys.executable).parent), *([] if slurm else [str(NO_SLURM)])]
    env["PATH"] = os.pathsep.join([*front, env.get("PATH", "")])
    project = workdir if workdir is not None and (workdir / "src/pipeline").is_dir() else REPO
    env["PYTHONPATH"] = str(project / "src")
    return env


def run_tool(
    workdir: Path,
    *command: str,
    timeout: int = 600,
    check: bool = True,
    cuda: bool = False,
    **env: str,
) -> subprocess.CompletedProcess:
    """Run a command in ``workdir`` with its own code, on the CPU unless ``cuda``
    (:func:`tool_env`); fail with its output unless ``check``."""
    result = subprocess.run(
        command,
        cwd=workdir,
        env=tool_env(workdir, cuda=cuda, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, (
            f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def dvc(workdir: Path, *arguments: str, **options) -> subprocess.CompletedProcess:
    return run_tool(workdir, sys.executable, "-m", "dvc", *arguments, **options)


GIT_USER = ("-c", "user.name=e2e-tagging tests", "-c", "user.email=tests@e2e-tagging.invalid")


def copy_project(destination: Path) -> Path:
    """The project's code and workflow (tracked or new, never ignored files) copied to a folder."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def _build_tiny_dvc_repo(workdir: Path) -> None:
    """`dvc repro` of the tiny grid from nothing in ``workdir``, committed to git."""
    for name in ("src", "workflow"):
        shutil.copytree(REPO / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Snakefile", workdir)
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_tool(workdir, sys.executable, "-m", "pipeline.repro.dvc_support")
    run_tool(workdir, "git", "init", "-q")
    dvc(workdir, "init", "-q")
    shutil.copy(REPO / ".dvc/config", workdir / ".dvc/config")
    dvc(workdir, "repro", timeout=900)
    run_tool(workdir, "git", "add", "-A")
    run_tool(workdir, "git", *GIT_USER, "commit", "-q", "-m", "tiny grid, pinned")


@pytest.fixture(scope="session")
def tiny_dvc_repo(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The project on the tiny grid, reproduced by `dvc repro` from nothing and committed.

    A git + DVC repository with the committed .dvc/config, so its default remote is the
    folder ``e2e-tagging-dvc-store`` beside it, in this session's temporary folder.

    Built once per test run: under pytest-xdist the first worker to ask builds it in the run's
    shared temporary folder (the others wait on a lock), and each worker gets its own copy,
    modification times kept, so that tests editing it on one worker cannot disturb another.
    """
    workdir = tmp_path_factory.mktemp("dvc")
    if worker_id == "master":  # no xdist: this process is the only user
        _build_tiny_dvc_repo(workdir)
        return workdir
    shared = tmp_path_factory.getbasetemp().parent / "tiny-dvc-built"
    built = shared.with_name(f"{shared.name}.done")  # beside it: the copies stay clean
    with FileLock(f"{shared}.lock"):
        if not built.is_file():
            shutil.rmtree(shared, ignore_errors=True)  # a build that failed part-way
            shared.mkdir()
            _build_tiny_dvc_repo(shared)
            built.touch()
    shutil.copytree(shared, workdir, symlinks=True, dirs_exist_ok=True)
    return workdir


LONGEST_FIRST = (
    "tests/end_to_end/test_regression_embedded.py",  # the main job, ~10 minutes on 2 cores
    "tests/end_to_end/test_slurm.py",  # mostly waiting for SLURM's status checks
    "tests/end_to_end/test_workflow.py",
    "tests/end_to_end/test_artefacts_sharing.py",
    "tests/end_to_end/test_dvc_repro.py",
)
"""The test files that take minutes, longest first: the README's test command runs two files at
a time in collection order (``-n 2 --dist loadfile --no-loadscope-reorder``), so starting the
two longest at once, on two workers, keeps the whole run short."""


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """Collect the longest test files first (:data:`LONGEST_FIRST`), the rest in their order."""
    rank = {path: position for position, path in enumerate(LONGEST_FIRST)}

    def file_rank(item) -> int:  # noqa: ANN001
        return rank.get(item.nodeid.split("::")[0], len(rank))

    items.sort(key=file_rank)  # stable: each file's tests keep their order
