import copy
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.config import all_variants, load_params
from pipeline.evaluation.paper import TABLE1_AUC
from pipeline.evaluation.tables import TABLE1_COLUMNS, TABLE_BUILDERS, TableInputs, build_table1
from pipeline.settings import ModelSizes, Settings
from pipeline.training.networks import build_variant_model
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def _network_parameters(variant, n_tags: int) -> int:
    """What evaluation counts: the parameters of the network trained on ``n_tags`` tags."""
    frames = Settings.from_params(PARAMS).audio.frames(variant.length, variant.stride)
    network = build_variant_model(variant, frames, n_tags, ModelSizes.from_params(PARAMS))
    return sum(p.numel() for p in network.parameters())


def _fake_metrics(folder, params, offset_of=lambda v: 0.0, n_tags=20):
    """Per-variant metrics as evaluate writes them, with AUCs we choose."""
    rng = np.random.default_rng(0)
    tags = [f"tag{i}" for i in range(n_tags)]
    for variant in all_variants(params):
        base = 0.8 + offset_of(variant)
        seeds = {
            str(s): {
                "auc": base + 0.01 * i,
                "pr_auc": base - 0.3 + 0.02 * i,
                "best_valid_auc": 0.8,
                "best_update": 10,
            }
            for i, s in enumerate(params["experiments"]["seeds"])
        }
        aucs = [v["auc"] for v in seeds.values()]
        pr_aucs = [v["pr_auc"] for v in seeds.values()]
        summary = {
            "variant": variant.name,
            "auc": float(np.mean(aucs)),
            "auc_std": float(np.std(aucs, ddof=1)),
            "pr_auc": float(np.mean(pr_aucs)),
            "pr_auc_std": float(np.std(pr_aucs, ddof=1)),
            "seeds": seeds,
            "parameters": _network_parameters(variant, n_tags),
        }
        (folder / f"{variant.name}.json").write_text(json.dumps(summary))
        per_tag = pd.DataFrame({"tag": tags, "excluded": [False] * (n_tags - 1) + [True]})
        per_tag["auc_mean"] = base + rng.normal(0, 0.01, len(tags))
        per_tag.to_csv(folder / f"{variant.name}_per_tag.csv", index=False)


def test_table1_columns_paper_numbers_and_paired_tests(tmp_path):
    _fake_metrics(tmp_path, PARAMS, lambda v: 0.05 if v.front_end == "spectrogram" else 0.0)
    raw = tmp_path / "raw_1024_1024.json"  # make the seed differences vary: a t-test needs it
    summary = json.loads(raw.read_text())
    summary["seeds"]["2"]["auc"] += 0.004
    raw.write_text(json.dumps(summary))
    table = build_table1(TableInputs.from_params(PARAMS, "table1"), tmp_path)
    assert list(table.columns) == TABLE1_COLUMNS
    first = table.iloc[0]
    assert first["auc_spectrogram"] == pytest.approx(0.86)
    assert first["auc_raw"] == pytest.approx(0.81)
    assert first["auc_raw_std"] == pytest.approx(0.01)
    assert first["pr_auc_spectrogram"] == pytest.approx(0.57)
    assert first["pr_auc_raw_std"] == pytest.approx(0.02)
    assert (first["paper_auc_spectrogram"], first["paper_auc_raw"]) == TABLE1_AUC[(1024, 1024)]
    assert first["p_seeds_ttest"] < 0.01, "spectrograms better on every seed"
    assert first["p_tags_wilcoxon"] < 0.001, "a consistent per-tag gap is detected"


def test_tables_2_to_4_rows_and_paper_numbers(tmp_path):
    _fake_metrics(tmp_path, PARAMS)
    table2 = TABLE_BUILDERS["table2"](TableInputs.from_params(PARAMS, "table2"), tmp_path)
    assert table2["nonlinearity"].tolist() == ["relu", "log_x2", "log_abs_x"]
    assert table2["paper_auc"].tolist() == [0.8366, 0.7508, 0.7487]
    assert table2["pr_auc"].tolist() == pytest.approx([0.52] * 3)
    table3 = TABLE_BUILDERS["table3"](TableInputs.from_params(PARAMS, "table3"), tmp_path)
    assert table3["features"].tolist() == [128, 64, 32, 64, 32]
    assert table3.loc[2, "parameters"] < table3.loc[1, "parameters"] < table3.loc[0, "parameters"]
    table4 = TABLE_BUILDERS["table4"](TableInputs.from_params(PARAMS, "table4"), tmp_path)
    assert table4["model"].tolist()[:3] == ["spectrogram", "raw, random init", "raw, mel init"]
    assert table4["paper_auc"].tolist()[:2] == [0.8815, 0.8487]
    assert np.isnan(table4["paper_auc"].tolist()[2])


def test_table3_counts_the_parameters_of_the_trained_networks(tmp_path):
    """The embedded dataset has 30 tags while split.n_tags asks for 50: the table must count
    the networks that were trained (30 outputs), not ones built from the settings."""
    assert PARAMS["split"]["n_tags"] == 50
    _fake_metrics(tmp_path, PARAMS, n_tags=30)
    table3 = TABLE_BUILDERS["table3"](TableInputs.from_params(PARAMS, "table3"), tmp_path)
    inputs = TableInputs.from_params(PARAMS, "table3")
    expected = [_network_parameters(v, 30) for v in inputs.variants]
    assert table3["parameters"].tolist() == expected
    assert expected[0] == _network_parameters(inputs.variants[0], 50) - 20 * 101  # 100 units + bias


def test_missing_metrics_name_the_variant(tmp_path):
    with pytest.raises(FileNotFoundError, match="spectrogram_1024_1024"):
        build_table1(TableInputs.from_params(PARAMS, "table1"), tmp_path)


def test_table1_with_one_front_end_has_one_row_per_pair(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["experiments"]["front_ends"] = ["raw"]
    _fake_metrics(tmp_path, PARAMS)
    table = build_table1(TableInputs.from_params(params, "table1"), tmp_path)
    pairs = [(p["length"], p["stride"]) for p in params["experiments"]["table1"]]
    assert list(zip(table["length"], table["stride"], strict=True)) == pairs
    assert table["auc_raw"].notna().all() and table["auc_spectrogram"].isna().all()
