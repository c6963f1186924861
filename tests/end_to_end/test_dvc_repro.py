"""End to end: `dvc repro` of the tiny grid builds every table and retrains only what changed."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.config import TABLE_VARIANTS, Variant, all_variants, load_params
from pipeline.evaluation.tables import TABLE1_COLUMNS
from pipeline.paths import Paths
from tests.conftest import REPO, dvc, run_tool

PARAMS = load_params(REPO / "params.yaml")

# --- `dvc repro` end to end ------------------------------------------------------------------


def _tiny_params(repo) -> dict:
    """The params the tiny repository was reproduced with (params.yaml plus the tiny grid)."""
    return load_params(repo / "params.yaml")


def _pairs(pairs: list[dict]) -> list[list[int]]:
    return [[pair["length"], pair["stride"]] for pair in pairs]


def _metrics(repo, paths: Paths, variant: Variant) -> dict:
    """The metrics JSON the evaluate step wrote for a variant."""
    return json.loads((repo / paths.metrics(variant.name)).read_text())


@pytest.mark.slow
def test_repro_builds_every_table_and_figure(tiny_dvc_repo):
    """Each table has its columns and one row per entry of the tiny grid, in the grid's order,
    and its AUCs are the evaluated variants' (reports/metrics)."""
    params = _tiny_params(tiny_dvc_repo)
    experiments, paths = params["experiments"], Paths.of(params)
    tables = {name: pd.read_csv(tiny_dvc_repo / paths.table(name)) for name in TABLE_VARIANTS}
    assert list(tables["table1"].columns) == TABLE1_COLUMNS
    assert tables["table1"][["length", "stride"]].values.tolist() == _pairs(experiments["table1"])
    assert tables["table2"]["nonlinearity"].tolist() == experiments["table2"]["nonlinearities"]
    poolings = [[p["type"], p["size"]] for p in experiments["table3"]["poolings"]]
    assert tables["table3"][["pooling", "pool_size"]].values.tolist() == poolings
    table4 = TABLE_VARIANTS["table4"](params)
    assert tables["table4"][["length", "stride"]].values.tolist() == [
        [v.length, v.stride] for v in table4
    ]
    inits = experiments["table4"]["inits"]
    assert tables["table4"]["model"].tolist() == [  # per pair: spectrogram, then each init
        "spectrogram" if v.front_end == "spectrogram" else f"raw, {v.init} init" for v in table4
    ]
    assert len(table4) == len(experiments["table4"]["pairs"]) * (1 + len(inits))
    row_columns = ["auc", "auc_std", "pr_auc", "pr_auc_std", "seeds", "paper_auc"]
    for name in ("table2", "table3", "table4"):
        assert set(row_columns) <= set(tables[name].columns), name
        metrics = [_metrics(tiny_dvc_repo, paths, v) for v in TABLE_VARIANTS[name](params)]
        assert tables[name]["auc"].tolist() == pytest.approx([m["auc"] for m in metrics], abs=1e-4)
        assert tables[name]["seeds"].tolist() == [len(experiments["seeds"])] * len(metrics)
        if name == "table3":
            assert tables[name]["parameters"].tolist() == [m["parameters"] for m in metrics]
    raw = [
        _metrics(tiny_dvc_repo, paths, Variant("raw", *pair))
        for pair in _pairs(experiments["table1"])
    ]
    assert tables["table1"]["auc_raw"].tolist() == pytest.approx([m["auc"] for m in raw], abs=1e-4)
    for figure in ("fig2_filter_spectra", "fig3_filters", "fig4_l2_pool_groups", "training_curves"):
        assert (tiny_dvc_repo / f"reports/figures/{figure}.png").read_bytes().startswith(b"\x89PNG")
    claims = pd.read_csv(tiny_dvc_repo / "reports/claims.csv").set_index("claim")
    assert claims.loc["max_pooling_worse", "verdict"] == "not tested"  # no max pooling here
    metric = json.loads((tiny_dvc_repo / "reports/claims.json").read_text())
    assert metric["holds"] + metric["does_not_hold"] + metric["not_tested"] == len(claims) == 11


@pytest.mark.slow
def test_nothing_changed_after_repro(tiny_dvc_repo):
    assert json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout) == {}


@pytest.mark.slow
def test_metrics_show_lists_the_aucs(tiny_dvc_repo):
    """One metrics file per variant, each as evaluation wrote it: the test AUC is the mean
    of its seeds' AUCs."""
    params = _tiny_params(tiny_dvc_repo)
    paths = Paths.of(params)
    shown = json.loads(dvc(tiny_dvc_repo, "metrics", "show", "--json").stdout)
    files = shown[""]["data"]  # the workspace
    claims = files.pop(str(paths.claims("json")))["data"]  # the scorecard: one more metric
    assert claims == json.loads((tiny_dvc_repo / paths.claims("json")).read_text())
    assert set(files) == {str(paths.metrics(v.name)) for v in all_variants(params)}
    for path, entry in files.items():
        summary = entry["data"]
        written = json.loads((tiny_dvc_repo / path).read_text())
        unlisted = {key: value for key, value in written.items() if not isinstance(value, list)}
        assert summary == unlisted, path  # DVC shows every value but lists (tags_excluded)
        seeds = summary["seeds"]
        assert set(seeds) == {str(seed) for seed in params["experiments"]["seeds"]}
        assert summary["auc"] == pytest.approx(np.mean([s["auc"] for s in seeds.values()]))
        assert summary["split"] == "test"


@pytest.mark.slow
def test_plots_show_renders_the_training_curves(tiny_dvc_repo, tmp_path):
    dvc(tiny_dvc_repo, "plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots/index.html").read_text()
    assert "models/synth/raw_512_256/seed2/history.csv" in html
    assert (tmp_path / "plots/static").is_dir()


@pytest.mark.slow
def test_a_new_variant_trains_only_itself(tiny_dvc_repo):
    """Adding a nonlinearity to Table 2 leaves every trained model up to date: only the new
    variant's jobs and what reads every variant (Table 2, the figures, the claims) rerun."""
    params_path, dvc_path = tiny_dvc_repo / "params.yaml", tiny_dvc_repo / "dvc.yaml"
    saved = params_path.read_text(), dvc_path.read_text()
    try:
        params = yaml.safe_load(saved[0])
        params["experiments"]["table2"]["nonlinearities"].append("log_abs_x")
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        run_tool(tiny_dvc_repo, sys.executable, "-m", "pipeline.repro.dvc_support")
        changed = set(json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout))
    finally:
        params_path.write_text(saved[0])
        dvc_path.write_text(saved[1])
    assert changed == {
        "train_raw_logabsx@1024_1024",  # one job, both seeds
        "evaluate_raw_logabsx@1024_1024",
        "table2",
        "figures",
        "claims",
    }


@pytest.mark.slow
def test_editing_the_inactive_profile_changes_no_stage(tiny_dvc_repo):
    """Training stages list the active profile's keys only (training.profiles.quick)."""
    params_path = tiny_dvc_repo / "params.yaml"
    saved = params_path.read_text()
    try:
        params = yaml.safe_load(saved)
        params["training"]["profiles"]["paper"]["updates"] += 1
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        status = json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout)
    finally:
        params_path.write_text(saved)
    assert status == {}


def _stage_names(repo) -> set[str]:
    """Every stage of the repository's dvc.yaml, matrix and foreach stages expanded."""
    names = set(dvc(repo, "stage", "list", "--name-only").stdout.split())
    assert {"synth", "train_raw@1024_1024", "table1", "figures"} <= names
    return names


@pytest.mark.slow
@pytest.mark.parametrize(
    "edited",
    [
        "src/pipeline/evaluation/tables.py",  # imported by the table step only
        "src/pipeline/stages.py",  # every step's function: every stage
        "src/pipeline/__main__.py",  # `python -m pipeline STEP`: every stage
        "workflow/scripts/train.py",  # Snakemake's wrapper: no stage runs it
    ],
)
def test_editing_code_changes_the_stages_that_run_it(tiny_dvc_repo, edited):
    path = tiny_dvc_repo / edited
    saved = path.read_text()
    try:
        path.write_text(saved + "\n# edited\n")
        changed = set(json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout))
    finally:
        path.write_text(saved)
    if edited.endswith("tables.py"):
        assert changed == {"table1", "table2", "table3", "table4"}
    elif edited.startswith("workflow/"):
        assert changed == set()
    else:
        assert changed == _stage_names(tiny_dvc_repo)
