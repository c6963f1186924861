"""End to end: `dvc repro` of the tiny grid builds every table and retrains only what changed."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from pipeline.config import load_params
from tests.conftest import REPO, dvc, run_tool

PARAMS = load_params(REPO / "params.yaml")

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


@pytest.mark.slow
def test_editing_a_module_changes_the_stages_that_import_it(tiny_dvc_repo):
    tables = tiny_dvc_repo / "src/pipeline/evaluation/tables.py"
    saved = tables.read_text()
    try:
        tables.write_text(saved + "\n# edited\n")
        changed = set(json.loads(dvc(tiny_dvc_repo, "status", "--json").stdout))
    finally:
        tables.write_text(saved)
    assert changed == {"table1", "table2", "table3", "table4"}
