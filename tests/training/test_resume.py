"""A training job (two seeds, looped or packed) killed with SIGKILL resumes to the bytes of an
uninterrupted run, and one whose labels changed while it was down starts over."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.data.split import read_split, tag_columns
from tests.training.tiny_setup import write_tiny_inputs
from tests.training.tiny_training import SEEDS, train

REPO = Path(__file__).resolve().parents[2]
RESULTS = ("model.pt", "config.json", "history.csv")


def _command(inputs: Path, out_dir: Path, engine: str) -> list[str]:
    module = "tests.training.tiny_training"
    return [sys.executable, "-m", module, str(inputs), str(out_dir), engine]


def _train_until_killed(inputs: Path, out_dir: Path, engine: str = "looped") -> None:
    """Start a training job, ``kill -9`` it as soon as it has written a checkpoint."""
    job = subprocess.Popen(_command(inputs, out_dir, engine), cwd=REPO, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out_dir / "checkpoint.pt").exists():
        assert job.poll() is None, job.communicate()[1].decode()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.005)
    os.kill(job.pid, signal.SIGKILL)
    job.communicate()
    assert job.returncode == -signal.SIGKILL
    assert not (out_dir / "seed3" / "model.pt").exists(), "the job finished before it was killed"


def _train_to_the_end(inputs: Path, out_dir: Path, engine: str = "looped") -> str:
    """Run a training job to completion; its stderr."""
    command = _command(inputs, out_dir, engine)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (out_dir / "checkpoint.pt").exists()
    return done.stderr


def _results(out_dir: Path) -> dict[str, bytes]:
    """Every seed's results, by path under the job's folder."""
    return {
        f"seed{seed}/{name}": (out_dir / f"seed{seed}" / name).read_bytes()
        for seed in SEEDS
        for name in RESULTS
    }


@pytest.mark.parametrize("engine", ["looped", "packed"])
def test_a_killed_training_job_resumes_to_the_bytes_of_an_uninterrupted_one(tmp_path, engine):
    inputs = tmp_path / "inputs"
    write_tiny_inputs(inputs)
    train(inputs, tmp_path / "whole", engine)

    _train_until_killed(inputs, tmp_path / "killed", engine)
    stderr = _train_to_the_end(inputs, tmp_path / "killed", engine)

    assert "raw_256_256 seeds 3,4: resuming from update" in stderr
    assert _results(tmp_path / "killed") == _results(tmp_path / "whole")


def test_a_job_killed_before_its_labels_changed_starts_over(tmp_path):
    inputs = tmp_path / "inputs"
    write_tiny_inputs(inputs)
    _train_until_killed(inputs, tmp_path / "killed")

    split = read_split(inputs / "split.csv")
    tags = tag_columns(split)
    split[tags] = 1 - split[tags]
    split.to_csv(inputs / "split.csv", index=False)
    stderr = _train_to_the_end(inputs, tmp_path / "killed")
    train(inputs, tmp_path / "fresh")

    assert "raw_256_256 seeds 3,4: discarding checkpoint.pt made from other inputs" in stderr
    assert "resuming" not in stderr
    assert _results(tmp_path / "killed") == _results(tmp_path / "fresh")
