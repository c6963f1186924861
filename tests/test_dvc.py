"""DVC: dvc.yaml is generated from params.yaml, is the Snakefile's DAG, and `dvc repro` runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import ParamsError, all_variants, load_params
from pipeline.dvc_support import main as generate
from pipeline.dvc_support import render
from tests.conftest import REPO, TINY, dvc, merge_params, run_tool, tool_env

PARAMS = load_params(REPO / "params.yaml")


def _resolved_stages(tmp_path: Path, params: dict) -> dict:
    """dvc.yaml generated from params, resolved by DVC itself: name -> stage."""
    from dvc.repo import Repo

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text(render(params))
    Repo.init(str(tmp_path), no_scm=True)
    with Repo(str(tmp_path)) as repo:
        return {stage.name: stage for stage in repo.index.stages}


# --- dvc.yaml is generated, never stale -------------------------------------------------------


def test_committed_dvc_yaml_is_the_generated_one():
    committed = (REPO / "dvc.yaml").read_text()
    assert committed == render(PARAMS), (
        "dvc.yaml is stale: run `python -m pipeline.dvc_support` and commit the result"
    )


def test_generation_is_deterministic_and_check_reports_staleness(tmp_path, capsys):
    params, output = tmp_path / "params.yaml", tmp_path / "dvc.yaml"
    params.write_text(yaml.safe_dump(merge_params(PARAMS, TINY)))
    arguments = ["--params", str(params), "--output", str(output)]
    assert generate([*arguments, "--check"]) == 1  # no dvc.yaml yet
    assert generate(arguments) == 0
    first = output.read_text()
    assert generate(arguments) == 0 and output.read_text() == first
    assert generate([*arguments, "--check"]) == 0
    params.write_text(yaml.safe_dump(PARAMS))
    assert generate([*arguments, "--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_other_datasets_are_refused():
    with pytest.raises(ParamsError, match="dataset"):
        render({**PARAMS, "dataset": "mtat"})


# --- the same DAG as the Snakefile ---------------------------------------------------------------


def test_dvc_outputs_are_the_snakefiles_outputs(tmp_path):
    """Every file Snakemake's DAG writes is a DVC output (or inside one), and vice versa."""
    (tmp_path / "smk").mkdir()
    shutil.copy(REPO / "params.yaml", tmp_path / "smk/params.yaml")
    summary = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
        + ["--directory", str(tmp_path / "smk"), "--summary", "--cores", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=tool_env(),
    )
    assert summary.returncode == 0, summary.stderr[-3000:]
    snakemake_files = {line.split("\t")[0] for line in summary.stdout.splitlines()[1:]}
    (tmp_path / "dvc").mkdir()
    stages = _resolved_stages(tmp_path / "dvc", PARAMS)
    dvc_outs = {out.def_path for stage in stages.values() for out in stage.outs}
    for path in snakemake_files:
        assert path in dvc_outs or any(path.startswith(f"{out}/") for out in dvc_outs), path
    for out in dvc_outs:
        assert out in snakemake_files or any(p.startswith(f"{out}/") for p in snakemake_files), out
    for table in ("table1", "table2", "table3", "table4"):
        assert stages[table].cmd == f"python -m pipeline table {table}"


def test_one_training_stage_per_variant_and_seed(tmp_path):
    stages = _resolved_stages(tmp_path, PARAMS)
    commands = {stage.cmd: stage for stage in stages.values()}
    for variant in all_variants(PARAMS):
        evaluate = commands[f"python -m pipeline evaluate --variant {variant.name}"]
        [metric] = [out for out in evaluate.outs if out.metric]
        assert metric.def_path == f"reports/metrics/synth/{variant.name}.json"
        assert metric.use_cache, "cached, so dvc checkout and dvc pull restore it"
        for seed in PARAMS["experiments"]["seeds"]:
            train = commands[f"python -m pipeline train --variant {variant.name} --seed {seed}"]
            model_dir = f"models/synth/{variant.name}/seed{seed}"
            outs = {out.def_path: out for out in train.outs}
            assert set(outs) == {
                f"{model_dir}/{f}" for f in ("model.pt", "config.json", "history.csv")
            }
            assert outs[f"{model_dir}/history.csv"].plot == {"x": "update", "y": "valid_auc"}
            # Granularity: only spectrogram variants read (and wait for) a mel cache, their own.
            mel_deps = {dep.def_path for dep in train.deps if "/mel_" in dep.def_path}
            stem = f"data/processed/synth/mel_{variant.length}_{variant.stride}"
            spectrogram = variant.front_end == "spectrogram"
            assert mel_deps == ({f"{stem}.bin", f"{stem}.csv"} if spectrogram else set())
            assert f"{model_dir}/model.pt" in {dep.def_path for dep in evaluate.deps}
    assert len(commands) == len(stages)


# --- `dvc repro` end to end ------------------------------------------------------------------


@pytest.mark.slow
def test_repro_builds_every_table_and_figure(tiny_dvc_repo):
    for table in ("table1", "table2", "table3", "table4"):
        assert len((tiny_dvc_repo / f"reports/{table}.csv").read_text().splitlines()) >= 2, table
    for figure in ("fig2_filter_spectra", "fig3_filters", "fig4_l2_pool_groups", "training_curves"):
        assert (tiny_dvc_repo / f"reports/figures/{figure}.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_nothing_changed_after_repro(tiny_dvc_repo):
    assert json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout) == {}


@pytest.mark.slow
def test_metrics_show_lists_the_aucs(tiny_dvc_repo):
    shown = json.loads(dvc(tiny_dvc_repo, "metrics", "show", "--json").stdout)
    files = shown[""]["data"]  # the workspace
    summary = files["reports/metrics/synth/raw_512_256.json"]["data"]
    assert 0.0 <= summary["auc"] <= 1.0
    assert set(summary["seeds"]) == {"1", "2"}


@pytest.mark.slow
def test_plots_show_renders_the_training_curves(tiny_dvc_repo, tmp_path):
    dvc(tiny_dvc_repo, "plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots/index.html").read_text()
    assert "models/synth/raw_512_256/seed2/history.csv" in html
    assert (tmp_path / "plots/static").is_dir()


@pytest.mark.slow
def test_a_new_variant_trains_only_itself(tiny_dvc_repo):
    """Adding a nonlinearity to Table 2 leaves every trained model up to date."""
    params_path, dvc_path = tiny_dvc_repo / "params.yaml", tiny_dvc_repo / "dvc.yaml"
    saved = params_path.read_text(), dvc_path.read_text()
    try:
        params = yaml.safe_load(saved[0])
        params["experiments"]["table2"]["nonlinearities"].append("log_abs_x")
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        run_tool(tiny_dvc_repo, sys.executable, "-m", "pipeline.dvc_support")
        changed = set(json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout))
    finally:
        params_path.write_text(saved[0])
        dvc_path.write_text(saved[1])
    assert changed == {
        "train_raw_logabsx@1024_1024-1",
        "train_raw_logabsx@1024_1024-2",
        "evaluate_raw_logabsx@1024_1024",
        "table2",
        "figures",
    }
