"""DVC: dvc.yaml is generated from params.yaml, is the Snakefile's DAG, and `dvc repro` runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import ParamsError, all_variants, load_params
from pipeline.repro.dvc_support import main as generate
from pipeline.repro.dvc_support import render
from tests.conftest import REPO, TINY, merge_params, tool_env

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
        "dvc.yaml is stale: run `python -m pipeline.repro.dvc_support` and commit the result"
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


def test_one_training_stage_per_variant_for_all_its_seeds(tmp_path):
    stages = _resolved_stages(tmp_path, PARAMS)
    commands = {stage.cmd: stage for stage in stages.values()}
    for variant in all_variants(PARAMS):
        evaluate = commands[f"python -m pipeline evaluate --variant {variant.name}"]
        [metric] = [out for out in evaluate.outs if out.metric]
        assert metric.def_path == f"reports/metrics/synth/{variant.name}.json"
        assert metric.use_cache, "cached, so dvc checkout and dvc pull restore it"
        train = commands[f"python -m pipeline train --variant {variant.name}"]
        outs = {out.def_path: out for out in train.outs}
        assert set(outs) == {
            f"models/synth/{variant.name}/seed{seed}/{f}"
            for seed in PARAMS["experiments"]["seeds"]
            for f in ("model.pt", "config.json", "history.csv")
        }
        for seed in PARAMS["experiments"]["seeds"]:
            model_dir = f"models/synth/{variant.name}/seed{seed}"
            assert outs[f"{model_dir}/history.csv"].plot == {"x": "update", "y": "valid_auc"}
            # Granularity: only spectrogram variants read (and wait for) a mel cache, their own.
            mel_deps = {dep.def_path for dep in train.deps if "/mel_" in dep.def_path}
            stem = f"data/processed/synth/mel_{variant.length}_{variant.stride}"
            spectrogram = variant.front_end == "spectrogram"
            assert mel_deps == ({f"{stem}.bin", f"{stem}.csv"} if spectrogram else set())
            assert f"{model_dir}/model.pt" in {dep.def_path for dep in evaluate.deps}
    assert len(commands) == len(stages)


def test_every_stage_depends_on_the_code_that_runs_it():
    """`python -m pipeline STEP` runs __main__.py and stages.py before the step's module: an
    edit to either reruns every stage, one to a Snakemake wrapper script none."""
    stages = yaml.safe_load(render(PARAMS))["stages"]
    for name, stage in stages.items():
        deps = set(stage.get("do", stage)["deps"])
        assert {"src/pipeline/__main__.py", "src/pipeline/stages.py"} <= deps, name
        assert not any(dep.startswith("workflow/") for dep in deps), name
