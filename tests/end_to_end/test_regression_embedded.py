"""End to end: the README's main job, checked against the pinned AUCs and hashes."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from pipeline.config import all_variants, load_params
from pipeline.data.split import read_split, tag_columns
from pipeline.repro.regression import (
    REFERENCE_FILE,
)
from tests.conftest import REPO, copy_project, run_tool

PARAMS = load_params(REPO / "params.yaml")


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory):
    """The README's main job in a copy of the project (its time on 2 cores:
    benchmarks/results/main_job.md, measured by `python benchmarks/main_job.py`)."""
    workdir = copy_project(tmp_path_factory.mktemp("embedded"))
    run_tool(workdir, "git", "init", "-q")  # DVC's verify and status want a repository
    run_tool(
        workdir, sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "rules", timeout=2400
    )
    return workdir


def _verdicts(report: str) -> dict[str, str]:
    """The check's table: variant -> its verdict (ok, REGRESSION or MISSING)."""
    rows = report.strip().splitlines()[1:-1]  # between the header and the summary line
    return {row.split()[0]: row.split()[-1] for row in rows}


@pytest.mark.slow
def test_embedded_run_matches_the_pinned_aucs(embedded_run):
    """Every variant of the grid pinned, measured and within the tolerance: the summary line
    says "within" whatever the count, so the table itself is read."""
    result = run_tool(
        embedded_run, sys.executable, "-m", "pipeline.repro.regression", "check", check=False
    )
    print(result.stdout)
    reference = json.loads((REPO / REFERENCE_FILE).read_text())
    pinned = set(reference["variants"])
    assert pinned == {variant.name for variant in all_variants(PARAMS)}
    assert _verdicts(result.stdout) == dict.fromkeys(pinned, "ok")
    summary = result.stdout.strip().splitlines()[-1]
    count = len(pinned)
    assert summary.startswith(f"{count} of {count} variants within ±{reference['tolerance']} ")
    assert "outside" not in summary
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_embedded_run_matches_the_pinned_hashes(embedded_run):
    """Every output exactly as dvc.lock pins it, whatever this CPU (portable numerics)."""
    result = run_tool(embedded_run, sys.executable, "-m", "pipeline.repro.artefacts", "verify")
    print(result.stdout)
    checked, total = result.stdout.split(" outputs", 1)[0].split(" of ")
    assert checked == total, result.stdout
    status = json.loads(
        run_tool(embedded_run, sys.executable, "-m", "dvc", "status", "--json").stdout
    )
    stale = {
        stage: change
        for stage, changes in status.items()
        for change in changes
        if isinstance(change, dict)
        for kind, detail in change.items()
        if kind == "changed command"
        or (kind == "changed deps" and any(p.startswith(("src/", "params.yaml")) for p in detail))
    }
    assert not stale, f"dvc.lock is stale for this code or params.yaml (re-pin): {stale}"


@pytest.mark.slow
def test_shuffled_labels_fail_the_check(embedded_run, tmp_path):
    """A real regression: one variant retrained on shuffled training labels."""
    victim = "spectrogram_1024_1024"
    for name in ("params.yaml", "src"):
        (tmp_path / name).symlink_to(embedded_run / name)
    for name in ("data/raw", "data/processed"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(embedded_run / name)
    shutil.copytree(embedded_run / "data/interim", tmp_path / "data/interim")
    shutil.copytree(embedded_run / "reports/metrics", tmp_path / "reports/metrics")
    (tmp_path / REFERENCE_FILE).parent.mkdir(parents=True)
    shutil.copy(embedded_run / REFERENCE_FILE, tmp_path / REFERENCE_FILE)

    split_path = tmp_path / "data/interim/synth/split.csv"
    split = read_split(split_path)
    train = split.index[split["split"] == "train"]
    tags = tag_columns(split)
    shuffled = np.random.default_rng(0).permutation(train)
    split.loc[train, tags] = split.loc[shuffled, tags].to_numpy()
    split.to_csv(split_path, index=False)

    run_tool(tmp_path, sys.executable, "-m", "pipeline", "train", "--variant", victim)
    run_tool(tmp_path, sys.executable, "-m", "pipeline", "evaluate", "--variant", victim)
    result = run_tool(
        tmp_path, sys.executable, "-m", "pipeline.repro.regression", "check", check=False
    )
    print(result.stdout)
    assert result.returncode == 1
    assert f"outside: {victim}\n" in result.stdout + "\n"
