"""End to end: outputs against dvc.lock, and sharing them through a local or S3 remote.

The round trips push the tiny grid's DVC-built artefacts, clone the repository afresh, pull,
and check that neither `dvc status` nor `snakemake -n` wants to rebuild anything.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import dvc, run_tool

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "e2e-tagging-test",
    "AWS_SECRET_ACCESS_KEY": "e2e-tagging-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def artefacts(workdir: Path, *arguments: str, check: bool = True, **env: str):
    return run_tool(
        workdir, sys.executable, "-m", "pipeline.repro.artefacts", *arguments, check=check, **env
    )


def snakemake_dry_run(workdir: Path) -> str:
    result = run_tool(workdir, sys.executable, "-m", "snakemake", "-n", "--cores", "1")
    return result.stdout + result.stderr


def assert_nothing_to_rebuild(workdir: Path) -> None:
    assert json.loads(dvc(workdir, "status", "--json").stdout) == {}
    dry_run = snakemake_dry_run(workdir)
    assert "Nothing to be done" in dry_run, dry_run[-3000:]


def clone(source: Path, destination: Path) -> Path:
    run_tool(source.parent, "git", "clone", "-q", str(source), str(destination))
    return destination


# --- verify -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_verify_passes_on_what_dvc_built(tiny_dvc_repo):
    result = artefacts(tiny_dvc_repo, "verify")
    matched, total = re.search(r"(\d+) of (\d+) outputs", result.stdout).groups()
    assert matched == total and int(total) > 50, result.stdout


@pytest.mark.slow
def test_verify_names_an_output_that_differs_from_its_pin(tiny_dvc_repo):
    table = tiny_dvc_repo / "reports/table2.csv"
    saved = table.read_bytes()
    try:
        table.write_bytes(saved.replace(b"0.", b"0.9", 1))
        result = artefacts(tiny_dvc_repo, "verify", check=False)
    finally:
        table.write_bytes(saved)
    assert result.returncode == 1
    assert "table2: reports/table2.csv: pinned" in result.stdout


# --- sharing through remotes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pulled_from_local_remote(tiny_dvc_repo):
    """A fresh clone that fetched everything from the default (local folder) remote."""
    dvc(tiny_dvc_repo, "push")
    store = tiny_dvc_repo.parent / "e2e-tagging-dvc-store"
    assert any((store / "files/md5").iterdir()), "the default remote is the folder beside"
    # A clone beside the first, so the relative default remote is the same folder.
    workdir = clone(tiny_dvc_repo, tiny_dvc_repo.parent / "colleague")
    result = artefacts(workdir, "sync", "--pull")
    assert "pinned outputs as up to date" in result.stdout
    return workdir


@pytest.mark.slow
def test_a_fresh_clone_pulls_from_the_local_remote_and_rebuilds_nothing(pulled_from_local_remote):
    assert (pulled_from_local_remote / "reports/table1.csv").is_file()
    assert_nothing_to_rebuild(pulled_from_local_remote)
    artefacts(pulled_from_local_remote, "verify")


@pytest.mark.slow
def test_sync_refuses_outputs_that_are_not_the_pinned_ones(pulled_from_local_remote):
    """A stale output is reported and Snakemake is not told that anything is current."""
    table = pulled_from_local_remote / "reports/table3.csv"
    saved = table.read_bytes()
    try:
        table.write_bytes(saved + b"\n")
        result = artefacts(pulled_from_local_remote, "sync", check=False)
        assert result.returncode == 1
        assert "table3" in result.stderr and "dvc repro" in result.stderr
    finally:
        table.write_bytes(saved)
    dvc(pulled_from_local_remote, "checkout", "-q", "table3")  # back to the pinned file
    assert table.read_bytes() == saved


@pytest.mark.slow
def test_a_fresh_clone_syncs_one_stage_and_what_it_needs(tiny_dvc_repo):
    workdir = clone(tiny_dvc_repo, tiny_dvc_repo.parent / "one-table")
    artefacts(workdir, "sync", "--pull", "table2")
    assert (workdir / "reports/table2.csv").is_file()
    assert not (workdir / "reports/table1.csv").exists()
    result = run_tool(
        workdir, sys.executable, "-m", "snakemake", "-n", "--cores", "1", "reports/table2.csv"
    )
    assert "Nothing to be done" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """An S3-compatible server (moto) on 127.0.0.1 with an empty bucket ``e2e-tagging``."""
    boto3 = pytest.importorskip("boto3", reason="boto3 comes with the [test] extra (moto)")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, **_credentials())
    client.create_bucket(Bucket="e2e-tagging")
    yield endpoint, client
    server.stop()


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


@pytest.mark.slow
def test_s3_round_trip(tiny_dvc_repo, s3_server, tmp_path):
    """Push to the committed `s3` remote on a local S3 server; a fresh clone pulls from it."""
    endpoint, client = s3_server
    dvc(tiny_dvc_repo, "remote", "modify", "--local", "s3", "endpointurl", endpoint)
    dvc(tiny_dvc_repo, "push", "-r", "s3", **S3_ENV)
    stored = client.list_objects_v2(Bucket="e2e-tagging", Prefix="dvc/")
    assert stored["KeyCount"] > 0

    workdir = clone(tiny_dvc_repo, tmp_path / "e2e-tagging")
    assert not (workdir / ".dvc/config.local").exists(), "endpoints stay out of git"
    dvc(workdir, "remote", "modify", "--local", "s3", "endpointurl", endpoint)
    # Only the S3 remote can serve this pull: no default (folder) remote beside this clone.
    assert not (workdir.parent / "e2e-tagging-dvc-store").exists()
    artefacts(workdir, "sync", "--pull", "--remote", "s3", **S3_ENV)
    assert_nothing_to_rebuild(workdir)
    artefacts(workdir, "verify")
