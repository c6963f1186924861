"""Pinned artefacts: an output matches only its pinned hash (without DVC); sync --push
shares only what dvc.lock pins (a two-stage DVC repository and a local remote)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.repro.artefacts import OutputCheck, main
from tests.conftest import dvc, run_tool

# --- OutputCheck, without DVC -----------------------------------------------------------------


def test_an_output_matches_only_its_pinned_hash():
    assert OutputCheck("split", "s.csv", "abc", "abc").matches
    assert not OutputCheck("split", "s.csv", "abc", "abd").matches
    assert OutputCheck("split", "s.csv", "abc", None).problem == "missing"
    assert OutputCheck("table1", "t.csv", None, "abc").problem == "not pinned in dvc.lock"


def test_a_mismatch_is_explained_by_the_numerics_setting(tmp_path):
    """verify's diagnosis of a mismatch: native numerics named; no reference is no crash."""
    from pipeline.repro.artefacts import _diagnose
    from tests.conftest import REPO

    params = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(params.replace("numerics: portable", "numerics: native"))
    assert any("numerics: native" in line for line in _diagnose(tmp_path))


# --- sync --push, on a two-stage DVC repository built "by another driver" -----------------------

MAKE = """import sys
from pathlib import Path
step = sys.argv[1]
if step == "first":
    Path("first.txt").write_text(Path("source.txt").read_text().upper())
else:
    Path("second.txt").write_text(Path("first.txt").read_text()[::-1])
"""

DVC_YAML = """stages:
  first:
    cmd: python make.py first
    deps: [make.py, source.txt]
    outs: [first.txt]
  second:
    cmd: python make.py second
    deps: [make.py, first.txt]
    outs: [second.txt]
"""


def _build_by_hand(workdir: Path) -> None:
    """What Snakemake does: the steps' commands, outside DVC (no cache, no lock written)."""
    for step in ("first", "second"):
        subprocess.run([sys.executable, "make.py", step], cwd=workdir, check=True)


@pytest.fixture
def built_outside_dvc(tmp_path: Path) -> Path:
    """A DVC repository whose dvc.lock is pinned, whose outputs were rebuilt by another
    driver (DVC's cache empty, as after `snakemake`), and whose default remote is empty."""
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "make.py").write_text(MAKE)
    (workdir / "source.txt").write_text("pinned bytes\n")
    (workdir / "dvc.yaml").write_text(DVC_YAML)
    dvc(workdir, "init", "--no-scm", "-q")
    dvc(workdir, "remote", "add", "-d", "local", str(tmp_path / "store"))
    dvc(workdir, "repro", "-q")
    shutil.rmtree(workdir / ".dvc" / "cache")
    for output in ("first.txt", "second.txt"):
        (workdir / output).unlink()
    _build_by_hand(workdir)
    return workdir


def sync_push(workdir: Path, *stages: str) -> subprocess.CompletedProcess:
    """The command in its own process: DVC's logging, set up when dvc is first imported,
    would otherwise hold this test's captured streams for every later in-process DVC test."""
    command = (sys.executable, "-m", "pipeline.repro.artefacts", "sync", "--push", *stages)
    return run_tool(workdir, *command, check=False)


def _stored(tmp_path: Path) -> list[Path]:
    store = tmp_path / "store"
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []


def test_what_another_driver_built_is_not_shared_by_dvc_push_alone(built_outside_dvc, tmp_path):
    """The gap sync --push closes: DVC sees the outputs, but not in its cache."""
    status = json.loads(dvc(built_outside_dvc, "status", "--json").stdout)
    assert status["first"] == [{"changed outs": {"first.txt": "not in cache"}}]
    dvc(built_outside_dvc, "push", "-q")
    assert _stored(tmp_path) == []


def test_sync_push_commits_and_pushes_outputs_that_match_dvc_lock(built_outside_dvc, tmp_path):
    lock = (built_outside_dvc / "dvc.lock").read_bytes()
    done = sync_push(built_outside_dvc)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "2 outputs matching dvc.lock committed, 2 files pushed to the default remote\n"
    )
    assert (built_outside_dvc / "dvc.lock").read_bytes() == lock
    assert json.loads(dvc(built_outside_dvc, "status", "--json").stdout) == {}
    assert json.loads(dvc(built_outside_dvc, "status", "--cloud", "--json").stdout) == {}
    # A colleague's copy: no cache, no outputs; the remote alone gives the pinned bytes back.
    built = {name: (built_outside_dvc / name).read_bytes() for name in ("first.txt", "second.txt")}
    shutil.rmtree(built_outside_dvc / ".dvc" / "cache")
    for name in built:
        (built_outside_dvc / name).unlink()
    dvc(built_outside_dvc, "pull", "-q")
    assert {name: (built_outside_dvc / name).read_bytes() for name in built} == built


def test_sync_push_refuses_an_output_that_differs_and_names_its_stage(built_outside_dvc, tmp_path):
    (built_outside_dvc / "second.txt").write_text("not what dvc.lock pins")
    done = sync_push(built_outside_dvc)
    err = done.stderr
    assert done.returncode == 1
    assert err.startswith(
        "error: these stages are not what dvc.lock pins, so nothing was committed or pushed:\n"
        "  second: output second.txt is not the pinned one (or missing)\n"
    )
    assert "first:" not in err and "Rebuild them" in err
    assert _stored(tmp_path) == [] and not (built_outside_dvc / ".dvc" / "cache").exists()
    # A stage named, and what it needs, is checked and shared alone.
    done = sync_push(built_outside_dvc, "first")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 output matching dvc.lock committed, 1 file pushed")
    assert len(_stored(tmp_path)) == 1


def test_sync_push_refuses_a_changed_dependency(built_outside_dvc, tmp_path):
    """Outputs rebuilt from another input are not the pinned ones either, even where a plain
    `dvc commit` would take them (and rewrite dvc.lock)."""
    (built_outside_dvc / "source.txt").write_text("other bytes\n")
    _build_by_hand(built_outside_dvc)
    lock = (built_outside_dvc / "dvc.lock").read_bytes()
    done = sync_push(built_outside_dvc)
    err = done.stderr
    assert done.returncode == 1
    assert "  first: output first.txt is not the pinned one (or missing); dependency " in err
    assert "source.txt changed" in err and "  second: output second.txt" in err
    assert (built_outside_dvc / "dvc.lock").read_bytes() == lock and _stored(tmp_path) == []


def test_push_and_pull_are_one_direction_at_a_time(capsys):
    with pytest.raises(SystemExit):
        main(["sync", "--push", "--pull"])
    assert "not allowed with argument" in capsys.readouterr().err
