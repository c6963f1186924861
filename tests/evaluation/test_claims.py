"""Every rule of the claims scorecard on fixtures where its claim holds, where it fails, and
where the grid cannot test it; the p-values against scipy's paired t-test."""

import copy
import json
import re

import numpy as np
import pytest
import torch
from scipy import stats

from pipeline import stages
from pipeline.config import all_variants, load_params
from pipeline.evaluation import claims as scorecard
from pipeline.evaluation.claims import (
    CLAIM_COLUMNS,
    FAILS,
    HOLDS,
    NOT_TESTED,
    ClaimSettings,
    FigureEvidence,
    Metrics,
    figure2_claims,
    figure4_claims,
)
from pipeline.evaluation.filter_stats import filter_bank_stats, pool_agreement
from tests.conftest import REPO
from tests.evaluation.test_filter_stats import mel_like_bank, pooled_bank, sinusoids

PARAMS = load_params(REPO / "params.yaml")
SETTINGS = ClaimSettings.from_params(PARAMS)
SEEDS = PARAMS["experiments"]["seeds"]
NOISE = {1: 0.002, 2: -0.001, 3: -0.001}  # per-seed wobble: paired differences keep a spread


def write_metrics(folder, params, auc_of, parameters_of=lambda v: 1000, valid_of=None):
    """Metrics JSONs as evaluation writes them, with per-seed AUCs ``auc_of(variant, seed)``."""
    folder.mkdir(parents=True, exist_ok=True)
    valid_of = valid_of or (lambda v, s: 0.8)
    for variant in all_variants(params):
        seeds = {
            str(s): {
                "auc": auc_of(variant, s),
                "pr_auc": 0.5,
                "best_valid_auc": valid_of(variant, s),
                "best_update": 125,
            }
            for s in params["experiments"]["seeds"]
        }
        aucs = [v["auc"] for v in seeds.values()]
        summary = {
            "variant": variant.name,
            "auc": float(np.mean(aucs)),
            "seeds": seeds,
            "parameters": parameters_of(variant),
        }
        (folder / f"{variant.name}.json").write_text(json.dumps(summary))
    return Metrics(folder)


def base_auc(variant, seed):
    """Every variant alike: no claim about a difference can hold."""
    return (
        0.8
        + NOISE[seed] * (1 + variant.length / 4096)
        + (0.001 if variant.front_end == "raw" else 0)
    )


def verdict(claim_function, params, metrics):
    return claim_function(params, metrics, SETTINGS.alpha).verdict


def test_spectrograms_beat_raw_holds_only_when_every_row_is_significantly_better(tmp_path):
    better = write_metrics(
        tmp_path / "better",
        PARAMS,
        lambda v, s: base_auc(v, s) + (0.03 + NOISE[s] if v.front_end == "spectrogram" else 0),
    )
    assert verdict(scorecard.claim_spectrograms_beat_raw, PARAMS, better) == HOLDS
    one_row_equal = write_metrics(
        tmp_path / "one",
        PARAMS,
        lambda v, s: (
            base_auc(v, s)
            + (0.03 + NOISE[s] if v.front_end == "spectrogram" and v.length != 256 else 0)
        ),
    )
    assert verdict(scorecard.claim_spectrograms_beat_raw, PARAMS, one_row_equal) == FAILS
    only_raw = copy.deepcopy(PARAMS)
    only_raw["experiments"]["front_ends"] = ["raw"]
    assert verdict(scorecard.claim_spectrograms_beat_raw, only_raw, better) == NOT_TESTED


def test_a_paired_rule_needs_two_seeds(tmp_path):
    one_seed = copy.deepcopy(PARAMS)
    one_seed["experiments"]["seeds"] = [1]
    metrics = write_metrics(
        tmp_path, one_seed, lambda v, s: 0.9 if v.front_end == "spectrogram" else 0.7
    )
    claim = scorecard.claim_spectrograms_beat_raw(one_seed, metrics, SETTINGS.alpha)
    assert claim.verdict == NOT_TESTED and "2 seeds" in claim.ours


def test_the_p_values_are_scipys_paired_t_test(tmp_path):
    metrics = write_metrics(
        tmp_path,
        PARAMS,
        lambda v, s: base_auc(v, s) + (0.01 * s if v.front_end == "spectrogram" else 0),
    )
    claim = scorecard.claim_spectrograms_beat_raw(PARAMS, metrics, SETTINGS.alpha)
    spec = [
        base_auc(type("V", (), {"length": 1024, "front_end": "spectrogram"}), s) + 0.01 * s
        for s in SEEDS
    ]
    raw = [base_auc(type("V", (), {"length": 1024, "front_end": "raw"}), s) for s in SEEDS]
    expected = stats.ttest_rel(spec, raw, alternative="greater").pvalue
    first = re.search(r"spectrogram_1024_1024 vs raw_1024_1024: [^;]*p=([0-9.e-]+)", claim.ours)
    assert float(first.group(1)) == pytest.approx(expected, rel=1e-3)


def test_shorter_windows_help_needs_every_halving_to_help(tmp_path):
    shorter_better = write_metrics(
        tmp_path / "a", PARAMS, lambda v, s: base_auc(v, s) + (1024 / v.length) * (0.01 + NOISE[s])
    )
    assert verdict(scorecard.claim_shorter_windows_help, PARAMS, shorter_better) == HOLDS
    flat = write_metrics(tmp_path / "b", PARAMS, base_auc)
    assert verdict(scorecard.claim_shorter_windows_help, PARAMS, flat) == FAILS
    comparisons = scorecard._shorter_window_comparisons(PARAMS)
    assert {(a.name, b.name) for a, b in comparisons} == {
        (f"{fe}_{a}", f"{fe}_{b}")
        for fe in ("spectrogram", "raw")
        for a, b in (("512_512", "1024_1024"), ("256_256", "512_512"), ("512_256", "1024_512"))
    }


def test_halving_the_stride_holds_while_it_gains_nothing_significant(tmp_path):
    same = write_metrics(tmp_path / "a", PARAMS, base_auc)
    assert verdict(scorecard.claim_halving_stride_no_gain, PARAMS, same) == HOLDS
    gains = write_metrics(
        tmp_path / "b",
        PARAMS,
        lambda v, s: base_auc(v, s) + (0.02 + NOISE[s] if v.stride * 2 == v.length else 0),
    )
    assert verdict(scorecard.claim_halving_stride_no_gain, PARAMS, gains) == FAILS


def test_log_compression_hurts_when_relu_is_significantly_better(tmp_path):
    hurts = write_metrics(
        tmp_path / "a",
        PARAMS,
        lambda v, s: base_auc(v, s) - (0.08 + NOISE[s] if v.nonlinearity != "relu" else 0),
    )
    assert verdict(scorecard.claim_log_compression_hurts, PARAMS, hurts) == HOLDS
    helps = write_metrics(
        tmp_path / "b",
        PARAMS,
        lambda v, s: base_auc(v, s) + (0.02 + NOISE[s] if v.nonlinearity == "log_x2" else 0),
    )
    assert verdict(scorecard.claim_log_compression_hurts, PARAMS, helps) == FAILS
    relu_only = copy.deepcopy(PARAMS)
    relu_only["experiments"]["table2"]["nonlinearities"] = ["relu"]
    assert verdict(scorecard.claim_log_compression_hurts, relu_only, hurts) == NOT_TESTED


def test_l2_pooling_must_match_no_pooling_with_fewer_parameters(tmp_path):
    def fewer(v):
        return 1000 // v.pool_size

    alike = write_metrics(tmp_path / "a", PARAMS, base_auc, fewer)
    assert verdict(scorecard.claim_l2_pooling_as_good, PARAMS, alike) == HOLDS
    not_fewer = write_metrics(tmp_path / "b", PARAMS, base_auc)
    assert verdict(scorecard.claim_l2_pooling_as_good, PARAMS, not_fewer) == FAILS
    worse = write_metrics(
        tmp_path / "c",
        PARAMS,
        lambda v, s: base_auc(v, s) - (0.05 + NOISE[s] if v.pooling == "l2" else 0),
        fewer,
    )
    assert verdict(scorecard.claim_l2_pooling_as_good, PARAMS, worse) == FAILS


def test_max_pooling_worse_when_significantly_below_no_pooling(tmp_path):
    worse = write_metrics(
        tmp_path / "a",
        PARAMS,
        lambda v, s: base_auc(v, s) - (0.03 + NOISE[s] if v.pooling == "max" else 0),
    )
    assert verdict(scorecard.claim_max_pooling_worse, PARAMS, worse) == HOLDS
    same = write_metrics(tmp_path / "b", PARAMS, base_auc)
    assert verdict(scorecard.claim_max_pooling_worse, PARAMS, same) == FAILS


def evidence(banks, pools=None, pool_size=4):
    stats_ = {
        seed: filter_bank_stats(bank, SETTINGS.selective_peak_to_mean)
        for seed, bank in banks.items()
    }
    agreement = {
        seed: pool_agreement(bank, pool_size, 999, seed=seed)
        for seed, bank in (pools or {}).items()
    }
    return FigureEvidence("raw_512_512", stats_, agreement, 1500)


def test_figure2_findings_hold_on_a_mel_like_bank_on_every_seed():
    found = figure2_claims(evidence({s: mel_like_bank() for s in SEEDS}), SETTINGS)
    assert [c.verdict for c in found] == [HOLDS, HOLDS, HOLDS]
    assert all(c.seeds == "1, 2, 3" for c in found)


def test_figure2_filters_piled_below_100_hz_are_selective_but_cover_nothing():
    rng = np.random.default_rng(0)
    piled = {s: sinusoids(rng.uniform(35, 60, 128)) for s in SEEDS}
    selective, cover, mel = figure2_claims(evidence(piled), SETTINGS)
    assert (selective.verdict, cover.verdict, mel.verdict) == (HOLDS, FAILS, FAILS)


def test_figure2_one_failing_seed_fails_the_finding():
    rng = np.random.default_rng(1)
    banks = {s: mel_like_bank() for s in SEEDS}
    banks[2] = rng.uniform(-1, 1, size=(128, 512))  # untrained: white noise
    selective = figure2_claims(evidence(banks), SETTINGS)[0]
    assert selective.verdict == FAILS
    assert "seed 2: " in selective.ours


def test_figure4_pools_agree_and_are_phase_shifted_only_when_they_are():
    rng = np.random.default_rng(2)
    pools = {s: pooled_bank(32, 4, rng) for s in SEEDS}
    agree, phases = figure4_claims(evidence({}, pools), SETTINGS)
    assert (agree.verdict, phases.verdict) == (HOLDS, HOLDS)
    shuffled = {s: bank[rng.permutation(len(bank))] for s, bank in pools.items()}
    assert figure4_claims(evidence({}, shuffled), SETTINGS)[0].verdict == FAILS
    copies = {s: pooled_bank(32, 4, rng, same_phase=True, spread_octaves=0.0) for s in SEEDS}
    agree, phases = figure4_claims(evidence({}, copies), SETTINGS)
    assert (agree.verdict, phases.verdict) == (HOLDS, FAILS)


def test_figures_without_trained_models_are_not_tested():
    assert {c.verdict for c in figure2_claims(None, SETTINGS) + figure4_claims(None, SETTINGS)} == {
        NOT_TESTED
    }


def save_filters(model_dir, filters, updates=1500):
    model_dir.mkdir(parents=True)
    weight = torch.from_numpy(filters.astype(np.float32)).unsqueeze(1)
    torch.save({"front_end.conv.weight": weight}, model_dir / "model.pt")
    (model_dir / "config.json").write_text(json.dumps({"training": {"updates": updates}}))


def test_the_claims_step_writes_the_scorecard_from_metrics_and_trained_filters(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    write_metrics(
        tmp_path / "reports/metrics/synth",
        PARAMS,
        lambda v, s: base_auc(v, s) + (0.03 + NOISE[s] if v.front_end == "spectrogram" else 0),
    )
    for seed in SEEDS:
        save_filters(tmp_path / f"models/synth/raw_512_512/seed{seed}", mel_like_bank())
        save_filters(
            tmp_path / f"models/synth/raw_1024_1024_l2pool4/seed{seed}", pooled_bank(32, 4, rng)
        )
    stages.claims(PARAMS)
    table = (tmp_path / "reports/claims.csv").read_text().splitlines()
    assert table[0].split(",") == CLAIM_COLUMNS
    found = dict(line.split(",")[0:1] + [line.rsplit(",", 1)[1]] for line in table[1:])
    assert found["spectrograms_beat_raw"] == HOLDS
    assert found["filters_cover_lower_half"] == HOLDS
    assert found["l2_pools_agree_in_frequency"] == HOLDS
    metric = json.loads((tmp_path / "reports/claims.json").read_text())
    assert metric["holds"] + metric["does_not_hold"] + metric["not_tested"] == len(table) - 1
    assert metric["claims"]["spectrograms_beat_raw"] == 1
    readable = (tmp_path / "reports/claims.md").read_text()
    assert "## spectrograms_beat_raw: holds" in readable


def test_seeds_that_did_not_learn_are_listed_in_the_scorecard(tmp_path):
    def dead(variant, seed):
        return 0.5 if variant.name == "spectrogram_1024_512" and seed == 2 else 0.8

    write_metrics(tmp_path, PARAMS, base_auc, valid_of=dead)
    untrained = scorecard.seeds_that_did_not_learn(PARAMS, tmp_path)
    assert [(u["variant"], u["seed"]) for u in untrained] == [("spectrogram_1024_512", 2)]
    readable = scorecard.claims_markdown([], "synth", untrained)
    assert "spectrogram_1024_512 seed 2 (validation 0.500 at update 125" in readable
    assert scorecard.claims_metric([], untrained)["seeds_that_did_not_learn"] == 1
    assert scorecard.seeds_that_did_not_learn(PARAMS, tmp_path / "none") == []
