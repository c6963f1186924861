"""Every number of every table traced to per-seed, per-tag metrics, and recomputed here
independently: means and standard deviations over seeds with numpy, the paired tests with
scipy on the pairs the paper's design makes (every variant is trained once per seed, so a
seed's two results form a pair for the t-test over seeds; a tag's two seed-mean AUCs form a
pair for the Wilcoxon test over tags).

The metrics are written in evaluate's formats (``<variant>.json`` and ``_per_tag.csv``) and
differ by variant, by seed and by tag. Seeds and tags have effects that every variant shares,
as in a real run (a seed's batches, a tag's difficulty), so pairing the wrong seeds or the
wrong tags gives another p-value: ``test_the_metrics_tell_a_wrong_pairing`` checks that the
data can tell, so that the table tests below would see a mispairing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.config import Variant, all_variants, load_params
from pipeline.evaluation.paper import TABLE1_AUC, TABLE2_AUC, TABLE3_AUC
from pipeline.evaluation.tables import TABLE_BUILDERS, TableInputs
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
SEEDS = (2, 10, 7)  # not ascending, and "10" sorts before "2" as text
TAGS = [f"tag{i:02d}" for i in range(12)]
EXCLUDED = 11  # no positive test clip: left out of every mean and test
MEASURES = ("auc", "pr_auc")


@dataclass(frozen=True)
class Truth:
    """What evaluation measured, per variant: seeds x tags arrays (NaN for the excluded tag)
    and the network's parameter count."""

    values: dict[str, dict[str, np.ndarray]]  # variant name -> measure -> seeds x tags
    parameters: dict[str, int]

    def per_seed(self, variant: Variant, measure: str = "auc") -> np.ndarray:
        """Each seed's mean over the evaluated tags, in SEEDS order."""
        return np.nanmean(self.values[variant.name][measure], axis=1)

    def per_tag(self, variant: Variant) -> np.ndarray:
        """Each evaluated tag's AUC averaged over seeds, in TAGS order."""
        return np.delete(self.values[variant.name]["auc"], EXCLUDED, axis=1).mean(axis=0)


def _truth() -> Truth:
    """AUCs that differ by variant, seed and tag, with shared seed and tag effects; the front
    ends' gap varies by seed and by tag, so neither test's p-value is at an extreme."""
    rng = np.random.default_rng(26)
    seed_effect = rng.normal(0, 0.03, (len(SEEDS), 1))
    tag_effect = rng.normal(0, 0.06, (1, len(TAGS)))
    gap = rng.normal(0.006, 0.004, (len(SEEDS), 1)) + rng.normal(0.006, 0.008, (1, len(TAGS)))
    values, parameters = {}, {}
    for k, variant in enumerate(all_variants(PARAMS)):
        base = 0.70 + 0.001 * k + (gap if variant.front_end == "spectrogram" else 0.0)
        measures = {}
        for measure, level in zip(MEASURES, (0.0, -0.35), strict=True):
            noise = rng.normal(0, 0.003, (len(SEEDS), len(TAGS)))
            value = np.round(base + level + seed_effect + tag_effect + noise, 6)
            value[:, EXCLUDED] = np.nan
            measures[measure] = value
        values[variant.name] = measures
        parameters[variant.name] = 100_000 + 1_000 * k
    return Truth(values, parameters)


def _write_metrics(folder: Path, variant: Variant, truth: Truth) -> None:
    """The variant's metrics as evaluate writes them; raw audio's per-tag rows in reverse
    order (the tables must pair tags by name, not by row)."""
    values = truth.values[variant.name]
    per_tag = pd.DataFrame({"tag": TAGS, "positives": 5, "negatives": 20, "excluded": False})
    per_tag.loc[EXCLUDED, ["positives", "negatives", "excluded"]] = [0, 25, True]
    seeds = {}
    for i, seed in enumerate(SEEDS):
        for measure in MEASURES:
            per_tag[f"{measure}_seed{seed}"] = values[measure][i]
        usable = per_tag.loc[~per_tag["excluded"]]
        seeds[str(seed)] = {m: float(usable[f"{m}_seed{seed}"].mean()) for m in MEASURES}
        seeds[str(seed)].update({"best_valid_auc": 0.8, "best_update": 100})
    summary = {"variant": variant.name, "seeds": seeds}
    summary["parameters"] = truth.parameters[variant.name]
    for measure in MEASURES:
        per_tag[f"{measure}_mean"] = per_tag[[f"{measure}_seed{s}" for s in SEEDS]].mean(axis=1)
        over_seeds = pd.Series([seeds[str(s)][measure] for s in SEEDS])
        summary[measure], summary[f"{measure}_std"] = over_seeds.mean(), over_seeds.std(ddof=1)
    if variant.front_end == "raw":
        per_tag = per_tag.iloc[::-1]
    per_tag.to_csv(folder / f"{variant.name}_per_tag.csv", index=False, float_format="%.6f")
    (folder / f"{variant.name}.json").write_text(json.dumps(summary, indent=2, sort_keys=True))


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    folder, truth = tmp_path_factory.mktemp("metrics"), _truth()
    for variant in all_variants(PARAMS):
        _write_metrics(folder, variant, truth)
    return folder, truth


def _table(name: str, folder: Path) -> pd.DataFrame:
    return TABLE_BUILDERS[name](TableInputs.from_params(PARAMS, name), folder)


def _assert_summary(row: pd.Series, truth: Truth, variant: Variant, suffix: str = "") -> None:
    """Mean and standard deviation over seeds of each measure, and the seed count."""
    for measure in MEASURES:
        per_seed = truth.per_seed(variant, measure)
        assert row[f"{measure}{suffix}"] == pytest.approx(per_seed.mean(), abs=1e-12)
        assert row[f"{measure}{suffix}_std"] == pytest.approx(per_seed.std(ddof=1), abs=1e-12)
    assert row["seeds"] == len(SEEDS)


def _paired_p_values(truth: Truth, first: Variant, second: Variant) -> tuple[float, float]:
    """scipy's paired t-test over seeds (same seed) and Wilcoxon test over tags (same tag)."""
    t_test = stats.ttest_rel(truth.per_seed(first), truth.per_seed(second))
    wilcoxon = stats.wilcoxon(truth.per_tag(first) - truth.per_tag(second))
    return float(t_test.pvalue), float(wilcoxon.pvalue)


@pytest.mark.parametrize("pair", PARAMS["experiments"]["table1"], ids=str)
def test_the_metrics_tell_a_wrong_pairing(metrics, pair):
    """The right pairs give other p-values than shifted seeds or tags, or unpaired tests: a
    table that paired wrongly could not pass the tests below."""
    _, truth = metrics
    first = Variant("spectrogram", pair["length"], pair["stride"])
    second = Variant("raw", pair["length"], pair["stride"])
    right_seeds, right_tags = _paired_p_values(truth, first, second)
    x, y = truth.per_seed(first), truth.per_seed(second)
    for wrong in (
        stats.ttest_rel(x, np.roll(y, 1)).pvalue,
        stats.ttest_rel(x, y[::-1]).pvalue,
        stats.ttest_ind(x, y).pvalue,
    ):
        assert abs(np.log(wrong / right_seeds)) > 1, (wrong, right_seeds)
    a, b = truth.per_tag(first), truth.per_tag(second)
    for wrong in (stats.wilcoxon(a - b[::-1]).pvalue, stats.mannwhitneyu(a, b).pvalue):
        assert abs(np.log(wrong / right_tags)) > 1, (wrong, right_tags)


def test_table1_every_number(metrics):
    folder, truth = metrics
    table = _table("table1", folder)
    pairs = [(p["length"], p["stride"]) for p in PARAMS["experiments"]["table1"]]
    assert list(zip(table["length"], table["stride"], strict=True)) == pairs
    for (length, stride), (_, row) in zip(pairs, table.iterrows(), strict=True):
        spectrogram, raw = Variant("spectrogram", length, stride), Variant("raw", length, stride)
        _assert_summary(row, truth, spectrogram, "_spectrogram")
        _assert_summary(row, truth, raw, "_raw")
        assert (row["paper_auc_spectrogram"], row["paper_auc_raw"]) == TABLE1_AUC[length, stride]
        p_seeds, p_tags = _paired_p_values(truth, spectrogram, raw)
        assert row["p_seeds_ttest"] == pytest.approx(p_seeds, rel=1e-9)
        assert row["p_tags_wilcoxon"] == pytest.approx(p_tags, rel=1e-9)


def test_tables_2_to_4_every_number(metrics):
    folder, truth = metrics
    experiments = PARAMS["experiments"]
    table2 = _table("table2", folder)
    pair2 = experiments["table2"]
    assert table2["nonlinearity"].tolist() == pair2["nonlinearities"]
    for _, row in table2.iterrows():
        variant = Variant("raw", pair2["length"], pair2["stride"], nonlinearity=row["nonlinearity"])
        _assert_summary(row, truth, variant)
        assert row["paper_auc"] == TABLE2_AUC[row["nonlinearity"]]

    table3 = _table("table3", folder)
    pair3 = experiments["table3"]
    poolings = [(p["type"], p["size"]) for p in pair3["poolings"]]
    assert list(zip(table3["pooling"], table3["pool_size"], strict=True)) == poolings
    for (pooling, size), (_, row) in zip(poolings, table3.iterrows(), strict=True):
        variant = Variant("raw", pair3["length"], pair3["stride"], pooling=pooling, pool_size=size)
        _assert_summary(row, truth, variant)
        assert row["features"] == PARAMS["model"]["raw_filters"] // size
        assert row["parameters"] == truth.parameters[variant.name]
        assert row["paper_auc"] == TABLE3_AUC[pooling, size]

    table4 = _table("table4", folder)
    expected = []
    for pair in experiments["table4"]["pairs"]:
        length, stride = pair["length"], pair["stride"]
        paper = TABLE1_AUC.get((length, stride), (np.nan, np.nan))
        expected.append((Variant("spectrogram", length, stride), "spectrogram", paper[0]))
        for init in experiments["table4"]["inits"]:
            published = paper[1] if init == "random" else np.nan
            expected.append((Variant("raw", length, stride, init=init), f"raw, {init} init",
                             published))  # fmt: skip
    assert len(table4) == len(expected)
    for (variant, model, published), (_, row) in zip(expected, table4.iterrows(), strict=True):
        assert (row["length"], row["stride"], row["model"]) == (
            variant.length, variant.stride, model
        )  # fmt: skip
        _assert_summary(row, truth, variant)
        assert row["paper_auc"] == pytest.approx(published, nan_ok=True)


def test_a_paired_test_refuses_other_seeds_or_tags(metrics, tmp_path):
    """Metrics of two variants evaluated with other seeds or on other tags cannot be paired:
    the error names the variants and the fix, rather than pairing what is there."""
    folder, _ = metrics
    for path in folder.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    raw = tmp_path / "raw_1024_1024.json"
    summary = json.loads(raw.read_text())
    del summary["seeds"]["7"]
    raw.write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"and raw_1024_1024 with \[2, 10\].*experiments.seeds"):
        _table("table1", tmp_path)
    raw.write_text((folder / raw.name).read_text())
    per_tag = tmp_path / "raw_1024_1024_per_tag.csv"
    pd.read_csv(per_tag).replace({"tag": {"tag03": "other"}}).to_csv(per_tag, index=False)
    with pytest.raises(ValueError, match="spectrogram_1024_1024 and raw_1024_1024.*split.csv"):
        _table("table1", tmp_path)
