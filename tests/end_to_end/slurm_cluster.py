"""A real single-node SLURM cluster on 127.0.0.1 for the tests, and how to read its records.

tests/slurm/start_cluster.sh installs Debian's slurmctld, slurmd and munge and starts them
without accounting; stop_cluster.sh stops them by PID. Starting fails the test with the
script's own words (never a skip): the SLURM test must not pass by not running.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "slurm"
SLURMCTLD_LOG = Path("/var/log/slurm/slurmctld.log")
PARTITION = "debug"  # the one partition start_cluster.sh defines
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def start() -> int:
    """Start the cluster (stopping a leftover one first) and return where slurmctld's log
    stood, so only this cluster's records are read; fail with the reason if it cannot."""
    stop()
    log_offset = SLURMCTLD_LOG.stat().st_size if SLURMCTLD_LOG.exists() else 0
    started = subprocess.run(
        ["bash", str(SCRIPTS / "start_cluster.sh")], capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        pytest.fail(
            "could not start the local SLURM cluster (tests/slurm/start_cluster.sh):\n"
            f"{started.stdout[-2000:]}\n{started.stderr[-2000:]}",
            pytrace=False,
        )
    return log_offset


def stop() -> None:
    subprocess.run(["bash", str(SCRIPTS / "stop_cluster.sh")], capture_output=True, timeout=120)


def submissions(snakemake_output: str) -> dict[str, str]:
    """SLURM job id -> its log file, for every job the SLURM executor submitted."""
    return {slurm_id: log for _, slurm_id, log in SUBMITTED.findall(snakemake_output)}


def completed_jobs(log_offset: int) -> set[str]:
    """The SLURM jobs slurmctld recorded as finished with exit status 0 since ``log_offset``."""
    with open(SLURMCTLD_LOG, "rb") as log_file:
        log_file.seek(log_offset)
        log = log_file.read().decode(errors="replace")
    return set(re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0\b", log))


def cancel(slurm_id: str) -> None:
    subprocess.run(["scancel", slurm_id], check=True, timeout=60)
