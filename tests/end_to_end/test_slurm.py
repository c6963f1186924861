"""End-to-end on a real SLURM cluster: a slice of the DAG through the repo's SLURM profile.

The test starts a single-node cluster on 127.0.0.1 (tests/slurm/start_cluster.sh: Debian's
slurmctld, slurmd and munge; root), runs Table 2 on the tiny grid (dataset, split, audio cache,
windows, two training jobs of two seeds each, two evaluations, the table) once locally and once
through `snakemake --workflow-profile workflow/profiles/slurm`, edited only where docs/cluster.md
says a cluster user edits it, and then checks that SLURM ran every job, that the bytes equal the
local run's, and that a training job cancelled by SLURM fails the run while a rerun resumes it
from its checkpoint to the same bytes.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY, copy_project, merge_params, tool_env
from tests.end_to_end import slurm_cluster

pytestmark = pytest.mark.slow

TARGET = "reports/table2.csv"
PROFILE = "workflow/profiles/slurm"
KILLED = Path("models/synth/raw_1024_1024/seed1")
NODE_CPUS = min(2, os.cpu_count() or 1)
# Training long enough (600 updates, a checkpoint every 100) to cancel mid-run; the parallel
# rules sized to the node; no GPU on this node: the one switch, resources.train.gpu.
SLICE = merge_params(
    TINY,
    {
        "training": {"profiles": {"quick": {"updates": 600, "validate_every": 100}}},
        "resources": {
            "train": {"gpu": 0},
            **{rule: {"threads": NODE_CPUS} for rule in ("synth", "decode_audio", "mel_cache")},
        },
    },
)
RUN_TIMEOUT = 1800
# The profile as a cluster user edits it, with one test-only change: the first status check
# after 2 s instead of 10 s. The plugin waits 10 s longer after each check that finds nothing
# finished, so every one of the slice's dependent steps waits for checks far longer than the
# step's few seconds of work; this shortens the waits and nothing else.
SLURM_RUN = ("--workflow-profile", PROFILE, "--slurm-init-seconds-before-status-checks", "2")


def make_workdir(workdir: Path) -> Path:
    """A copy of the project whose params.yaml is the slice's."""
    copy_project(workdir)
    params = merge_params(yaml.safe_load((workdir / "params.yaml").read_text()), SLICE)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return workdir


def edit_profile_for_this_cluster(workdir: Path) -> list[str]:
    """The edits docs/cluster.md lists, for a cluster whose partition is `debug` and that has no
    accounts; returns the changed lines so the test can hold the docs to them."""
    path = workdir / PROFILE / "config.yaml"
    original = path.read_text()
    edited = original.replace("EDIT_ME_PARTITION", slurm_cluster.PARTITION)
    edited = edited.replace('  slurm_account: "EDIT_ME_ACCOUNT"\n', "")
    path.write_text(edited)
    diff = difflib.unified_diff(original.splitlines(), edited.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def snakemake(workdir: Path, *arguments: str, job_tmp: Path) -> subprocess.Popen:
    """Snakemake on the slice in ``workdir`` (its output in ``snakemake.log``); the venv first
    on PATH, which the SLURM executor exports to every job, and TMPDIR a folder of our own."""
    command = [sys.executable, "-m", "snakemake", TARGET, *arguments]
    with open(workdir / "snakemake.log", "w") as log:  # the child keeps its own handle
        return subprocess.Popen(
            command,
            cwd=workdir,
            env=tool_env(workdir, slurm=True, TMPDIR=str(job_tmp), PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def finish(process: subprocess.Popen, workdir: Path) -> tuple[int, str]:
    returncode = process.wait(timeout=RUN_TIMEOUT)
    return returncode, (workdir / "snakemake.log").read_text()


def run(workdir: Path, *arguments: str, job_tmp: Path) -> tuple[float, str]:
    """Run to the end; fail with Snakemake's words unless it succeeds; return seconds, output."""
    started = time.perf_counter()
    returncode, output = finish(snakemake(workdir, *arguments, job_tmp=job_tmp), workdir)
    assert returncode == 0, output[-5000:]
    return time.perf_counter() - started, output


NOT_RESULTS = ("reports/logs/", "reports/bench/")
"""What jobs write about themselves (their output and their time), not results."""


def outputs(workdir: Path) -> dict[str, bytes]:
    """Every file the slice wrote, but timing.json (wall-clock seconds, not a result) and the
    jobs' logs and benchmark files."""
    found = {}
    for top in ("data", "models", "reports"):
        for path in sorted((workdir / top).rglob("*")):
            relative = path.relative_to(workdir).as_posix()
            if (
                path.is_file()
                and path.name != "timing.json"
                and not relative.startswith(NOT_RESULTS)
            ):
                found[str(path.relative_to(workdir))] = path.read_bytes()
    return found


def job_count(output: str) -> int:
    """The `total` of Snakemake's job stats table."""
    return int(re.search(r"^total\s+(\d+)\s*$", output, re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def cluster():
    """The local cluster, torn down afterwards even when a test fails; where its log began."""
    try:
        yield slurm_cluster.start()
    finally:
        slurm_cluster.stop()


@pytest.fixture(scope="module")
def slice_runs(cluster, tmp_path_factory):
    """The slice run from nothing locally and through SLURM, timed."""
    local = make_workdir(tmp_path_factory.mktemp("local"))
    on_slurm = make_workdir(tmp_path_factory.mktemp("slurm"))
    job_tmp = tmp_path_factory.mktemp("job_tmp")
    edits = edit_profile_for_this_cluster(on_slurm)
    local_s, _ = run(local, "--cores", str(NODE_CPUS), job_tmp=job_tmp)
    slurm_s, output = run(on_slurm, *SLURM_RUN, job_tmp=job_tmp)
    print(f"\nslice {TARGET}: SLURM {slurm_s:.0f} s, local --cores {NODE_CPUS} {local_s:.0f} s")
    return {
        "local": local,
        "slurm": on_slurm,
        "output": output,
        "edits": edits,
        "job_tmp": job_tmp,
        "log_offset": cluster,
    }


def test_the_profile_needs_only_the_documented_edits(slice_runs):
    assert slice_runs["edits"] == [
        '-  slurm_partition: "EDIT_ME_PARTITION"',
        '-  slurm_account: "EDIT_ME_ACCOUNT"',
        '+  slurm_partition: "debug"',
    ]


def test_slurm_ran_every_job(slice_runs):
    output = slice_runs["output"]
    submitted = slurm_cluster.submissions(output)
    assert len(submitted) == job_count(output) >= 10, output[-3000:]
    assert set(submitted) <= slurm_cluster.completed_jobs(slice_runs["log_offset"])
    assert "localrule" not in output  # no job ran on the submitting machine
    assert "--gpus" not in output  # resources.train.gpu: 0 switched the request off


def test_slurm_outputs_equal_the_local_run_byte_for_byte(slice_runs):
    local, on_slurm = outputs(slice_runs["local"]), outputs(slice_runs["slurm"])
    assert sorted(local) == sorted(on_slurm)
    assert TARGET in local and str(KILLED / "model.pt") in local
    assert [name for name in local if local[name] != on_slurm[name]] == []


def test_jobs_leave_no_file_in_tmp(slice_runs):
    """Nothing passes between jobs through TMPDIR (torch may leave an empty cache folder)."""
    assert [path for path in slice_runs["job_tmp"].rglob("*") if path.is_file()] == []


def cancel_after_first_checkpoint(
    process: subprocess.Popen, workdir: Path, checkpoint: Path
) -> str:
    """Wait until the one training job of the run has written a checkpoint, then `scancel`
    it; return its SLURM job id."""
    deadline = time.monotonic() + 900
    while True:
        output = (workdir / "snakemake.log").read_text()
        assert process.poll() is None, output[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 15 minutes"
        training = [
            i for i, log in slurm_cluster.submissions(output).items() if "/rule_train/" in log
        ]
        if training and checkpoint.exists():
            (training_job,) = training
            slurm_cluster.cancel(training_job)
            return training_job
        time.sleep(0.5)


def test_a_job_cancelled_by_slurm_fails_and_a_rerun_resumes_it(slice_runs):
    """scancel one training job after its first checkpoint: the run reports it failed; the
    rerun resumes from the checkpoint and the bytes are the local run's again."""
    workdir, job_tmp = slice_runs["slurm"], slice_runs["job_tmp"]
    checkpoint = workdir / KILLED.parent / "checkpoint.pt"  # one per job, beside its seeds
    # Rerun one training job of the finished slice (and what depends on it); the same command
    # runs again after the failure, as a cluster user would.
    command = (*SLURM_RUN, "--forcerun", str(KILLED / "model.pt"))
    process = snakemake(workdir, *command, job_tmp=job_tmp)
    try:
        training_job = cancel_after_first_checkpoint(process, workdir, checkpoint)
        returncode, output = finish(process, workdir)
    finally:
        if process.poll() is None:
            process.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
            process.wait(timeout=120)
    assert returncode != 0, output[-3000:]
    assert f"SLURM-job '{training_job}' failed, SLURM status is: 'CANCELLED'" in output
    assert "Error in rule train" in output
    assert checkpoint.exists() and not (workdir / KILLED / "model.pt").exists()

    _, rerun = run(workdir, *command, job_tmp=job_tmp)
    assert any("/rule_train/" in log for log in slurm_cluster.submissions(rerun).values())
    train_log = workdir / f"reports/logs/synth/train/{KILLED.parent.name}.log"  # its log:
    assert re.search(r"resuming from update [1-9]\d*", train_log.read_text())
    assert not checkpoint.exists()
    assert outputs(workdir) == outputs(slice_runs["local"])
