"""End-to-end: the whole Table 1 DAG under Snakemake on tiny configurations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.config import TABLE_VARIANTS, Variant, all_variants, mel_pairs, variant_pairs
from pipeline.evaluation.tables import TABLE1_COLUMNS
from pipeline.paths import Paths
from tests.conftest import REPO, TINY, copy_project, dvc, merge_params, run_tool, tool_env

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *arguments: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``: on its own copy of the project when it holds one (its code
    first on the path), else on the repository's Snakefile."""
    own_copy = (workdir / "Snakefile").is_file()
    command = [sys.executable, "-m", "snakemake", *arguments]
    command += ["--snakefile", str((workdir if own_copy else REPO) / "Snakefile")]
    command += ["--directory", str(workdir)]
    env = tool_env(workdir if own_copy else None)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def run_workflow(workdir: Path, overrides: dict, *targets: str) -> subprocess.CompletedProcess:
    """Build ``targets`` (default: all) in ``workdir`` with params.yaml plus ``overrides``."""
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), overrides)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return snakemake(workdir, *targets, "--cores", "2", "--quiet", "rules")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_dvc_repo):
    """The tiny DAG run by Snakemake from nothing, in a fresh clone of the DVC tests' project
    (``tiny_dvc_repo``: its code, params.yaml, dvc.yaml and dvc.lock, none of its outputs),
    so that what one driver built is checked against what the other pinned."""
    workdir = tmp_path_factory.mktemp("first") / "clone"
    run_tool(tiny_dvc_repo.parent, "git", "clone", "-q", str(tiny_dvc_repo), str(workdir))
    result = snakemake(workdir, "--cores", "2", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_table1_is_built_with_every_pair(tiny_run):
    table = pd.read_csv(tiny_run / "reports/table1.csv")
    assert list(table.columns) == TABLE1_COLUMNS
    assert table[["length", "stride"]].values.tolist() == [[1024, 1024], [512, 256]]
    assert table["auc_spectrogram"].between(0, 1).all() and table["auc_raw"].between(0, 1).all()
    assert table["paper_auc_raw"].tolist() == [0.8366, 0.8408]
    per_tag = pd.read_csv(tiny_run / "reports/metrics/synth/raw_512_256_per_tag.csv")
    assert {"tag", "auc_seed1", "auc_seed2", "auc_mean", "positives", "excluded"} <= set(
        per_tag.columns
    )
    split = pd.read_csv(tiny_run / "data/interim/synth/split.csv")
    assert list(split.columns[:4]) == ["clip_id", "mp3_path", "part", "split"]


def test_every_table_and_figure_is_built(tiny_run):
    reports = tiny_run / "reports"
    for table in ("table2", "table3", "table4"):
        assert len(pd.read_csv(reports / f"{table}.csv")) >= 2
    for figure in ("fig2_filter_spectra", "fig3_filters", "fig4_l2_pool_groups", "training_curves"):
        assert (reports / "figures" / f"{figure}.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((reports / "metrics/synth/raw_1024_1024.json").read_text())
    assert set(summary["seeds"]) == {"1", "2"}
    claims = pd.read_csv(reports / "claims.csv").set_index("claim")
    assert len(claims) == 11 and set(claims["verdict"]) <= {"holds", "does not hold", "not tested"}
    assert claims.loc["max_pooling_worse", "verdict"] == "not tested"  # no max pooling here
    assert (claims.loc["spectrograms_beat_raw", "seeds"]) == "1, 2"


def test_nothing_left_to_do_after_a_run(tiny_run):
    dry = snakemake(tiny_run, "-n", "--cores", "1", timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr


def _job_counts(dry_run_output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table of a dry run: rule -> jobs."""
    counts, table = {}, dry_run_output.split("Job stats:", 1)[-1].splitlines()
    for line in table[3:]:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit() or fields[0] == "total":
            break
        counts[fields[0]] = int(fields[1])
    return counts


def test_a_new_variant_runs_only_its_own_jobs(tiny_run):
    """Granularity under Snakemake, as under DVC (tests/end_to_end/test_dvc_repro.py): adding a
    nonlinearity to Table 2 trains and evaluates only the new variant, then Table 2 and the
    figures and the claims."""
    params_path = tiny_run / "params.yaml"
    saved = params_path.read_text()
    try:
        params = yaml.safe_load(saved)
        params["experiments"]["table2"]["nonlinearities"].append("log_abs_x")
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))  # its order kept
        dry = snakemake(tiny_run, "-n", "--cores", "1", timeout=300)
    finally:
        params_path.write_text(saved)
    assert dry.returncode == 0, dry.stderr[-2000:]
    output = dry.stdout + dry.stderr
    assert _job_counts(output) == {
        "all": 1,
        "evaluate": 1,
        "figures": 1,
        "table": 1,
        "claims": 1,
        "train": 1,
    }
    assert "raw_1024_1024_logabsx/seed2/model.pt" in output
    assert "output: reports/table2.csv" in output
    assert "output: reports/table1.csv" not in output


def test_bad_param_stops_before_anything_is_written(tmp_path):
    result = run_workflow(tmp_path, {**TINY, "split": {"n_tags": 0, "flavour": "paper"}})
    assert result.returncode != 0
    assert "split.n_tags" in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


def test_folder_dataset_with_broken_clips(tmp_path, tiny_dvc_repo):
    """dataset: folder runs the whole DAG on an MTAT-layout folder with broken files (a copy
    of the tiny grid's embedded dataset)."""
    music = tmp_path / "music"
    shutil.copytree(tiny_dvc_repo / "data/raw/synth", music)
    annotations = pd.read_csv(music / "annotations_final.csv", sep="\t", dtype=str)
    victims = annotations.groupby(annotations["mp3_path"].str[0]).head(1)["mp3_path"].tolist()
    broken = {
        victims[0]: "empty",
        victims[1]: "undecodable",
        victims[13]: "truncated",
        victims[14]: "missing",
    }
    for path, kind in broken.items():
        target = music / path
        if kind == "empty":
            target.write_bytes(b"")
        elif kind == "undecodable":
            target.write_text("not an mp3\n" * 100)
        elif kind == "truncated":
            target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        else:
            target.unlink()
    one_network = {"front_ends": ["raw"], "table1": TINY["experiments"]["table1"][:1]}
    overrides = {"dataset": "folder", "folder_dir": str(music), "experiments": one_network}
    result = run_workflow(tmp_path / "run", merge_params(TINY, overrides), "reports/table1.csv")
    assert result.returncode == 0, result.stderr[-4000:]
    skipped = pd.read_csv(tmp_path / "run/data/interim/folder/skipped.csv")
    assert dict(zip(skipped["mp3_path"], skipped["reason"], strict=True)) == broken
    assert (tmp_path / "run/reports/table1.csv").is_file()


def split_mtat(workdir: Path, mtat: Path) -> subprocess.CompletedProcess:
    """The README's split-only MTAT command, with a base URL where nothing can be fetched."""
    shutil.copy(REPO / "params.yaml", workdir / "params.yaml")
    unreachable = "http://127.0.0.1:9/"  # the discard port: any download attempt fails
    return snakemake(
        workdir, "data/interim/mtat/split.csv", "--cores", "1", "--config", "dataset=mtat",
        f"mtat_dir={mtat}", f"mtat_base_url={unreachable}", timeout=300,
    )  # fmt: skip


def test_mtat_split_from_verified_metadata_downloads_nothing(tmp_path, real_metadata):
    """The README's split-only command on a folder holding only MTAT's verified metadata."""
    mtat = tmp_path / "mtat"
    shutil.copytree(real_metadata, mtat)
    result = split_mtat(tmp_path, mtat)
    assert result.returncode == 0, result.stderr[-3000:]
    split = pd.read_csv(tmp_path / "data/interim/mtat/split.csv")
    assert len(split) == 25863 and len(split.columns) == 4 + 50
    assert sorted(p.name for p in mtat.iterdir()) == [
        "annotations_final.csv",
        "clip_info_final.csv",
    ]


def test_mtat_metadata_that_fails_its_checksum_is_not_used(tmp_path, real_metadata):
    mtat = tmp_path / "mtat"
    shutil.copytree(real_metadata, mtat)
    with open(mtat / "annotations_final.csv", "ab") as handle:
        handle.write(b"tampered")
    result = split_mtat(tmp_path, mtat)
    assert result.returncode != 0
    assert "annotations_final.csv" in result.stderr
    assert not (tmp_path / "data/interim/mtat/split.csv").exists()


def test_editing_the_inactive_profile_reruns_nothing(tiny_run):
    """Training reads the active profile only, so the paper profile's settings are no input."""
    params_path = tiny_run / "params.yaml"
    saved = params_path.read_text()
    try:
        params = yaml.safe_load(saved)
        params["training"]["profiles"]["paper"]["updates"] += 1
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))  # its order kept
        dry = snakemake(tiny_run, "-n", "--cores", "1", timeout=300)
    finally:
        params_path.write_text(saved)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.fixture(scope="module")
def touched_project(tmp_path_factory) -> Path:
    """The tiny grid in its own copy of the project with every output present and up to date
    but none computed: each file the DAG writes is created empty, then `snakemake --touch`
    dates them in the DAG's order. A dry run then has nothing to do until a file is edited,
    in seconds instead of the minutes of a real run."""
    workdir = copy_project(tmp_path_factory.mktemp("touched"))
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    summary = snakemake(workdir, "--summary", "--cores", "1", timeout=300)
    assert summary.returncode == 0, summary.stderr[-2000:]
    for line in summary.stdout.splitlines()[1:]:
        output = workdir / line.split("\t")[0]
        output.parent.mkdir(parents=True, exist_ok=True)
        output.touch()
    touched = snakemake(workdir, "--touch", "--cores", "1", timeout=300)
    assert touched.returncode == 0, touched.stderr[-2000:]
    dry = snakemake(workdir, "-n", "--cores", "1", timeout=300)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]
    return workdir


def _dry_run_after_editing(workdir: Path, relative: str) -> str:
    """A dry run's output with one file of the project edited; the file is restored after,
    bytes and modification time, so the next edit starts from the same state.

    Only modification times decide (``--rerun-triggers mtime``), so what reruns follows from
    the rules' listed inputs alone: Snakemake's own record of a script's code (its "code"
    trigger) exists only for outputs it made itself, not for outputs made by DVC or pulled
    (docs/dvc.md), and never covers stages.py or the modules a script imports.
    """
    edited = workdir / relative
    saved, times = edited.read_bytes(), edited.stat()
    try:
        edited.write_bytes(saved + b"\n# edited\n")
        dry = snakemake(workdir, "-n", "--rerun-triggers", "mtime", "--cores", "1", timeout=300)
    finally:
        edited.write_bytes(saved)
        os.utime(edited, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert dry.returncode == 0, dry.stderr[-2000:]
    return dry.stdout + dry.stderr


def _expected_jobs(edited: str) -> dict[str, int]:
    """What editing a file reruns on the tiny grid, from the grid: a variant is one training
    and one evaluation job, a (length, stride) pair one windows job, and so on."""
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    variants = len(all_variants(params))
    reports = {"table": len(TABLE_VARIANTS), "all": 1}
    if edited == "src/pipeline/evaluation/tables.py":  # imported by the table step only
        return reports
    if edited == "workflow/scripts/train.py":  # the train rule's script: training and after
        return {"train": variants, "evaluate": variants, "figures": 1, "claims": 1, **reports}
    if edited == "src/pipeline/stages.py":  # every step runs through it: everything
        return {
            "synth_dataset": 1,
            "audio_ready": 1,
            "split": 1,
            "decode_audio": 1,
            "windows": len(variant_pairs(params)),
            "mel_cache": len(mel_pairs(params)),
            "train": variants,
            "evaluate": variants,
            "figures": 1,
            "claims": 1,
            **reports,
        }
    return {}  # __main__.py: only DVC runs it


@pytest.mark.parametrize(
    "edited",
    [
        "src/pipeline/evaluation/tables.py",
        "src/pipeline/stages.py",
        "workflow/scripts/train.py",
        "src/pipeline/__main__.py",
    ],
)
def test_editing_code_reruns_the_steps_that_run_it(touched_project, edited):
    """A module reruns the steps that import it; stages.py (both drivers' entry) every step; a
    rule's wrapper script its rule's jobs and what follows; __main__.py (DVC's) nothing."""
    output = _dry_run_after_editing(touched_project, edited)
    expected = _expected_jobs(edited)
    if expected:
        assert _job_counts(output) == expected
    else:
        assert "Nothing to be done" in output


@pytest.mark.parametrize("front_end", ["spectrogram", "raw"])
def test_e2e_tag_scores_a_test_clip_exactly_as_evaluation_did(tiny_run, front_end, monkeypatch):
    """The tagging tool decodes the mp3 itself; evaluation reads the caches: same score."""
    from pipeline.determinism import configure_torch
    from pipeline.settings import AudioSettings
    from pipeline.tagging import tag_files
    from pipeline.training.batches import load_window_source
    from pipeline.training.networks import load_trained
    from pipeline.training.predict import clip_predictions

    workdir = tiny_run
    monkeypatch.chdir(workdir)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    length, stride = params["experiments"]["table1"][0].values()
    variant = Variant(front_end, length, stride)
    paths = Paths.of(params)
    model_dir = paths.model_dir(variant.name, params["experiments"]["seeds"][0])
    model, config = load_trained(model_dir)
    configure_torch(config["numerics"], threads=1)  # as the evaluate step does
    source = load_window_source(
        variant,
        paths.split,
        paths.audio_stem,
        paths.mel_stem(length, stride) if front_end == "spectrogram" else None,
        AudioSettings(**params["audio"]).frames(length, stride),
    )
    windows = pd.read_csv(paths.windows(length, stride))
    clip_ids, scores, _ = clip_predictions(model, source, windows, "test", 256, "cpu")
    split = pd.read_csv(paths.split).set_index("clip_id")
    clip_id = int(clip_ids[0])
    [result] = tag_files(model_dir, [paths.raw / split.loc[clip_id, "mp3_path"]], device="cpu")
    assert result.error is None
    assert result.tags == config["tags"]
    np.testing.assert_array_equal(result.probabilities, scores[0])


# Last in this file: `dvc commit` may rewrite the run's outputs (DVC's cache links them).
def test_snakemake_from_nothing_builds_the_bytes_dvc_pinned(tiny_run):
    """Two runs from nothing, one by each driver, in other folders and processes: every output
    Snakemake wrote is byte for byte what `dvc repro` pinned in dvc.lock, so caching them with
    `dvc commit` leaves dvc.lock unchanged and `dvc status` clean."""
    run_tool(tiny_run, sys.executable, "-m", "pipeline.repro.artefacts", "verify")
    dvc(tiny_run, "commit", "-f", "-q")
    run_tool(tiny_run, "git", "diff", "--exit-code", "dvc.lock")
    assert json.loads(dvc(tiny_run, "status", "--json").stdout) == {}
