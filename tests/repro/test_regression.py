"""The AUC regression check (`python -m pipeline.repro.regression`), on made-up metrics.

A pinned run passes its own check; a drop beyond the tolerance fails naming the variant; a
variant that was not built fails; a run with other settings is refused rather than compared;
the command exits 1 on a regression; the committed reference is params.yaml's. The real
embedded run against tests/reference/synth.json and dvc.lock is CI's slow
tests/end_to_end/test_regression_embedded.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.config import all_variants, load_params
from pipeline.paths import Paths
from pipeline.repro import reference_env
from pipeline.repro.regression import (
    RegressionError,
    compare,
    load_reference,
    main,
    pin,
    report,
)
from tests.conftest import REPO, TINY, merge_params

PARAMS = load_params(REPO / "params.yaml")


def _write_metrics(params: dict, aucs: dict[str, float]) -> None:
    """Per-variant metrics JSON as evaluation writes them (mean and per seed)."""
    paths = Paths.of(params)
    for name, auc in aucs.items():
        numbers = params["experiments"]["seeds"]
        spread = {s: auc + 0.001 * (s - np.mean(numbers)) for s in numbers}  # mean: auc
        seeds = {str(s): {"auc": value} for s, value in spread.items()}
        paths.metrics(name).parent.mkdir(parents=True, exist_ok=True)
        paths.metrics(name).write_text(json.dumps({"auc": auc, "seeds": seeds}))


@pytest.fixture
def pinned_run(tmp_path, monkeypatch):
    """A tiny-grid run's metrics (made up, AUC 0.7 + a little per variant) and its reference."""
    monkeypatch.chdir(tmp_path)
    params = merge_params(PARAMS, TINY)
    names = [v.name for v in all_variants(params)]
    _write_metrics(params, {name: 0.7 + 0.01 * i for i, name in enumerate(names)})
    pin(params, tmp_path / "reference.json")
    return params, load_reference(tmp_path, Path("reference.json")), names


# --- the check, on made-up metrics ------------------------------------------------------------


def test_the_pinned_run_passes_its_own_check(pinned_run):
    params, reference, names = pinned_run
    comparisons = compare(params, reference)
    assert [c.variant for c in comparisons] == names
    assert all(c.ok and c.delta == 0 for c in comparisons)
    assert reference["tolerance"] == 0.03
    assert reference["numerics"]["torch"] == torch.__version__  # the running torch's, not 2.13's


def test_a_drop_beyond_the_tolerance_fails_naming_the_variant(pinned_run):
    params, reference, names = pinned_run
    within, beyond = names[0], names[1]
    _write_metrics(params, {within: reference["variants"][within]["auc"] - 0.029})
    _write_metrics(params, {beyond: reference["variants"][beyond]["auc"] - 0.031})
    comparisons = {c.variant: c for c in compare(params, reference)}
    assert comparisons[within].ok
    assert not comparisons[beyond].ok
    text = report(list(comparisons.values()))
    assert f"outside: {beyond}" in text and "REGRESSION" in text


def test_a_variant_that_was_not_built_fails(pinned_run):
    params, reference, names = pinned_run
    Paths.of(params).metrics(names[2]).unlink()
    [missing] = [c for c in compare(params, reference) if not c.ok]
    assert missing.variant == names[2] and missing.measured is None
    assert "MISSING" in report(compare(params, reference))


def test_a_run_with_other_settings_is_refused_not_compared(pinned_run):
    params, reference, _ = pinned_run
    other = merge_params(params, {"experiments": {"seeds": [1]}})
    with pytest.raises(RegressionError, match="seeds"):
        compare(other, reference)


def test_the_command_exits_1_on_a_regression(pinned_run, tmp_path, capsys):
    params, reference, names = pinned_run
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    arguments = ["check", "--reference", "reference.json"]
    assert main(arguments) == 0
    _write_metrics(params, {names[0]: 0.5})
    assert main(arguments) == 1
    assert names[0] in capsys.readouterr().out


def test_the_command_names_a_torch_release_other_than_the_cpu_references(
    pinned_run, tmp_path, capsys, monkeypatch
):
    """A run on a GPU host's torch passes or fails on its AUCs, and says that its torch is
    not the reference's, so a moved AUC is not read as a bug of the code."""
    params, _, _ = pinned_run
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "constraints").mkdir()
    (tmp_path / "constraints/cpu-reference.txt").write_text(
        (REPO / "constraints/cpu-reference.txt").read_text()
    )
    pins = reference_env.reference_pins(tmp_path / "constraints/cpu-reference.txt")
    arguments = ["check", "--reference", "reference.json"]
    monkeypatch.setattr(reference_env, "installed_version", pins.get)  # the reference's
    assert main(arguments) == 0
    assert "differ from the CPU reference" not in capsys.readouterr().out
    gpu_host = {**pins, "torch": "2.11.0+cu130"}
    monkeypatch.setattr(reference_env, "installed_version", gpu_host.get)
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert f"torch 2.11.0+cu130 (reference {pins['torch']})" in out
    assert "pip install -e . -c constraints/cpu-reference.txt" in out


def test_the_committed_reference_is_for_params_yaml():
    """It covers every variant of the grid and was pinned with today's settings."""
    reference = load_reference(REPO)
    assert set(reference["variants"]) == {v.name for v in all_variants(PARAMS)}
    compare(PARAMS, reference)  # raises if a setting changed since it was pinned


# --- the embedded run in CI -------------------------------------------------------------------
