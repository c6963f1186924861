"""The paper's findings, each checked against this run: the claims scorecard.

A reader of the paper takes away findings, not numbers: spectrograms beat raw audio, shorter
windows help, halving the stride does not, log compression in the strided layer hurts, L2
pooling does as well as none with fewer parameters, max pooling does worse, and a network fed
raw audio discovers a frequency decomposition (Figures 2 and 4). Each finding is a row here:
the paper's sentence, the paper's numbers, ours with the seeds they rest on, the rule that
decides, and the verdict (``holds``, ``does not hold``, or ``not tested`` when the grid lacks
the variants or the seeds a rule needs). Any dataset's run gets its scorecard, MTAT's included.

The rules use every seed. Where the paper compares two variants, the comparison is paired
across seeds (seed k of one variant against seed k of the other: same initialisation seed, same
batches), with a paired t-test (one-sided for "A beats B", two-sided for "A and B do the same")
at ``claims.alpha``. A finding over several comparisons ("consistently") holds when each of its
comparisons does. The figures' findings are read per seed from the trained filters
(:mod:`pipeline.evaluation.filter_stats`) and hold when they hold for every seed; "the filters
of a pool agree" is tested against random groupings of the same filters, so that agreement that
chance would give is not counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import (
    Variant,
    figure_variants,
    table1_variants,
    table2_variants,
    table3_variants,
)
from pipeline.evaluation.filter_stats import (
    BAND_HZ,
    MEL_KNEE_HZ,
    FilterBankStats,
    PoolAgreement,
    filter_bank_stats,
    pool_agreement,
)
from pipeline.evaluation.paper import TABLE1_AUC, TABLE2_AUC, TABLE3_AUC

HOLDS, FAILS, NOT_TESTED = "holds", "does not hold", "not tested"
UNTRAINED_VALID_AUC = 0.55
"""A seed whose best validation AUC stayed below this never learnt (its network died or stalled:
without input normalisation, a spectrogram network's first updates can silence every ReLU)."""
CLAIM_COLUMNS = ["claim", "section", "finding", "paper", "ours", "seeds", "rule", "verdict"]


@dataclass(frozen=True)
class ClaimSettings:
    """The thresholds of the rules (params.yaml ``claims``)."""

    alpha: float
    selective_peak_to_mean: float
    selective_share: float
    lower_half_share: float
    octave_min_filters: int
    pool_p_value: float
    pool_permutations: int
    phase_spread_degrees: float

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ClaimSettings:
        return cls(**params["claims"])


@dataclass(frozen=True)
class Claim:
    """One row of the scorecard."""

    claim: str
    section: str
    finding: str
    paper: str
    ours: str
    seeds: str
    rule: str
    verdict: str

    def to_dict(self) -> dict[str, str]:
        return {column: getattr(self, column) for column in CLAIM_COLUMNS}


# ---------------------------------------------------------------------------------------------
# Paired comparisons of variants across seeds (Tables 1-3)


@dataclass(frozen=True)
class Paired:
    """Variant ``a`` against variant ``b`` over the seeds both have: per-seed AUC differences."""

    a: str
    b: str
    seeds: tuple[int, ...]
    diffs: np.ndarray  # a - b, per seed
    mean_a: float
    mean_b: float

    @property
    def mean_diff(self) -> float:
        return float(self.diffs.mean())

    def p_greater(self) -> float:
        """One-sided paired t-test of a > b (NaN when it cannot be computed)."""
        return _t_test(self.diffs, "greater")

    def p_two_sided(self) -> float:
        return _t_test(self.diffs, "two-sided")

    def text(self, p: float) -> str:
        return f"{self.mean_a:.4f} vs {self.mean_b:.4f} ({self.mean_diff:+.4f}, p={_p(p)})"


def _t_test(diffs: np.ndarray, alternative: str) -> float:
    from scipy import stats

    if len(diffs) < 2:
        return float("nan")
    if np.all(diffs == diffs[0]):  # no spread: t is undefined, the sign is certain
        if diffs[0] == 0:
            return 1.0
        agrees = alternative == "two-sided" or (diffs[0] > 0) == (alternative == "greater")
        return 0.0 if agrees else 1.0
    return float(stats.ttest_rel(diffs, np.zeros_like(diffs), alternative=alternative).pvalue)


def _p(p: float) -> str:
    return "n/a" if np.isnan(p) else f"{p:.3g}"


class Metrics:
    """Per-seed test AUCs of the variants that have metrics, read once."""

    def __init__(self, metrics_dir: Path) -> None:
        self.metrics_dir = Path(metrics_dir)
        self._cache: dict[str, dict[str, Any] | None] = {}

    def summary(self, variant: Variant) -> dict[str, Any] | None:
        if variant.name not in self._cache:
            path = self.metrics_dir / f"{variant.name}.json"
            self._cache[variant.name] = json.loads(path.read_text()) if path.is_file() else None
        return self._cache[variant.name]

    def seed_aucs(self, variant: Variant) -> dict[int, float]:
        summary = self.summary(variant)
        if summary is None:
            return {}
        return {int(seed): result["auc"] for seed, result in summary["seeds"].items()}

    def paired(self, a: Variant, b: Variant) -> Paired | None:
        """``a`` against ``b`` on their common seeds; None when either has no metrics."""
        auc_a, auc_b = self.seed_aucs(a), self.seed_aucs(b)
        seeds = tuple(sorted(set(auc_a) & set(auc_b)))
        if not seeds:
            return None
        x = np.array([auc_a[s] for s in seeds])
        y = np.array([auc_b[s] for s in seeds])
        return Paired(a.name, b.name, seeds, x - y, float(x.mean()), float(y.mean()))


def _seeds_text(pairs: Sequence[Paired]) -> str:
    seeds = sorted({s for pair in pairs for s in pair.seeds})
    return ", ".join(str(s) for s in seeds)


def _not_tested(base: dict[str, str], why: str, seeds: str = "") -> Claim:
    return Claim(**base, ours=f"not tested: {why}", seeds=seeds, verdict=NOT_TESTED)


def _enough_seeds(pairs: Sequence[Paired]) -> bool:
    return all(len(pair.seeds) >= 2 for pair in pairs)


def _all_significant(
    base: dict[str, str],
    pairs: list[Paired],
    alpha: float,
    missing: str,
) -> Claim:
    """Holds when every ``a > b`` comparison is significant (one-sided, paired over seeds)."""
    if not pairs:
        return _not_tested(base, missing)
    if not _enough_seeds(pairs):
        return _not_tested(base, "a paired test needs at least 2 seeds", _seeds_text(pairs))
    ps = [pair.p_greater() for pair in pairs]
    holds = all(p < alpha for p in ps)
    ours = "; ".join(
        f"{pair.a} vs {pair.b}: {pair.text(p)}" for pair, p in zip(pairs, ps, strict=True)
    )
    return Claim(**base, ours=ours, seeds=_seeds_text(pairs), verdict=HOLDS if holds else FAILS)


def _table1(params: dict[str, Any]) -> dict[tuple[str, int, int], Variant]:
    return {(v.front_end, v.length, v.stride): v for v in table1_variants(params)}


def claim_spectrograms_beat_raw(params: dict[str, Any], metrics: Metrics, alpha: float) -> Claim:
    grid = _table1(params)
    pairs_in_grid = sorted({(length, stride) for _, length, stride in grid}, reverse=True)
    base = {
        "claim": "spectrograms_beat_raw",
        "section": "4.2, Table 1",
        "finding": "The spectrogram approach consistently outperforms using raw audio.",
        "paper": "; ".join(
            f"{length}/{stride}: {TABLE1_AUC[(length, stride)][0]:.4f} vs "
            f"{TABLE1_AUC[(length, stride)][1]:.4f}"
            for length, stride in sorted(TABLE1_AUC, reverse=True)
        ),
        "rule": (
            f"in every (length, stride) row: spectrogram > raw audio, one-sided paired t-test "
            f"over seeds, p < {alpha}"
        ),
    }
    pairs = [
        metrics.paired(grid[("spectrogram", L, S)], grid[("raw", L, S)])
        for L, S in pairs_in_grid
        if ("spectrogram", L, S) in grid and ("raw", L, S) in grid
    ]
    return _all_significant(
        base, [p for p in pairs if p], alpha, "the grid lacks one of the two front ends"
    )


def _shorter_window_comparisons(params: dict[str, Any]) -> list[tuple[Variant, Variant]]:
    """(shorter, longer): rows of Table 1 whose length and stride are both half another's."""
    grid = _table1(params)
    found = []
    for (front_end, length, stride), variant in grid.items():
        longer = grid.get((front_end, 2 * length, 2 * stride))
        if longer is not None:
            found.append((variant, longer))
    return sorted(found, key=lambda pair: (pair[0].front_end, -pair[0].length))


def claim_shorter_windows_help(params: dict[str, Any], metrics: Metrics, alpha: float) -> Claim:
    base = {
        "claim": "shorter_windows_help",
        "section": "4.2, Table 1",
        "finding": "A smaller window length consistently improves results.",
        "paper": (
            "spectrograms 1024/1024 0.8690, 512/512 0.8793, 256/256 0.8815; 1024/512 0.8726, "
            "512/256 0.8793; raw audio 0.8366, 0.8386, 0.8487; 0.8365, 0.8408"
        ),
        "rule": (
            "for each front end, every row against the row with twice its length and stride: "
            f"shorter > longer, one-sided paired t-test over seeds, p < {alpha}"
        ),
    }
    pairs = [metrics.paired(short, long) for short, long in _shorter_window_comparisons(params)]
    return _all_significant(
        base, [p for p in pairs if p], alpha, "no two rows differ by a factor of 2 in both"
    )


def claim_halving_stride_no_gain(params: dict[str, Any], metrics: Metrics, alpha: float) -> Claim:
    grid = _table1(params)
    base = {
        "claim": "halving_stride_no_gain",
        "section": "4.2, Table 1",
        "finding": (
            "Reducing the stride to half the window length does not result in any significant "
            "improvement."
        ),
        "paper": (
            "spectrograms 1024: 0.8726 (stride 512) vs 0.8690 (1024); 512: 0.8793 vs 0.8793; "
            "raw audio 1024: 0.8365 vs 0.8366; 512: 0.8408 vs 0.8386"
        ),
        "rule": (
            "for each front end and length with both strides in the grid: half stride not "
            f"better than full stride (one-sided paired t-test over seeds, p >= {alpha})"
        ),
    }
    pairs = [
        metrics.paired(variant, grid[(front_end, length, 2 * stride)])
        for (front_end, length, stride), variant in sorted(grid.items())
        if 2 * stride == length and (front_end, length, length) in grid
    ]
    pairs = [p for p in pairs if p]
    if not pairs:
        return _not_tested(base, "no length has both stride = length and stride = length / 2")
    if not _enough_seeds(pairs):
        return _not_tested(base, "a paired test needs at least 2 seeds", _seeds_text(pairs))
    ps = [pair.p_greater() for pair in pairs]
    ours = "; ".join(
        f"{pair.a} vs {pair.b}: {pair.text(p)}" for pair, p in zip(pairs, ps, strict=True)
    )
    holds = all(p >= alpha for p in ps)
    return Claim(**base, ours=ours, seeds=_seeds_text(pairs), verdict=HOLDS if holds else FAILS)


def claim_log_compression_hurts(params: dict[str, Any], metrics: Metrics, alpha: float) -> Claim:
    variants = {v.nonlinearity: v for v in table2_variants(params)}
    base = {
        "claim": "log_compression_hurts",
        "section": "4.3, Table 2",
        "finding": (
            "Replacing the strided layer's rectifier with a logarithmic compression degrades "
            "performance."
        ),
        "paper": (
            f"ReLU {TABLE2_AUC['relu']:.4f}; log(1 + C x^2) {TABLE2_AUC['log_x2']:.4f}; "
            f"log(1 + C x) {TABLE2_AUC['log_abs_x']:.4f}"
        ),
        "rule": (
            "for each logarithmic nonlinearity in the grid: ReLU > it, one-sided paired t-test "
            f"over seeds, p < {alpha}"
        ),
    }
    relu = variants.get("relu")
    pairs = [
        metrics.paired(relu, variant)
        for name, variant in variants.items()
        if name != "relu" and relu is not None
    ]
    return _all_significant(
        base, [p for p in pairs if p], alpha, "Table 2 needs ReLU and a logarithmic nonlinearity"
    )


def _table3(params: dict[str, Any]) -> dict[tuple[str, int], Variant]:
    return {(v.pooling, v.pool_size): v for v in table3_variants(params)}


def claim_l2_pooling_as_good(params: dict[str, Any], metrics: Metrics, alpha: float) -> Claim:
    grid = _table3(params)
    base = {
        "claim": "l2_pooling_as_good_fewer_parameters",
        "section": "4.4, Table 3",
        "finding": (
            "L2 pooling does not perform significantly better (or worse) than no pooling, with "
            "fewer trainable parameters."
        ),
        "paper": (
            f"no pooling {TABLE3_AUC[('none', 1)]:.4f}; L2 pools of 2 {TABLE3_AUC[('l2', 2)]:.4f}, "
            f"of 4 {TABLE3_AUC[('l2', 4)]:.4f}"
        ),
        "rule": (
            "for each L2 pool size: no significant difference from no pooling (two-sided paired "
            f"t-test over seeds, p >= {alpha}) and fewer parameters"
        ),
    }
    none = grid.get(("none", 1))
    l2 = [v for (kind, _), v in sorted(grid.items()) if kind == "l2"]
    if none is None or not l2:
        return _not_tested(base, "Table 3 needs no pooling and L2 pooling")
    pairs = [metrics.paired(v, none) for v in l2]
    if any(p is None for p in pairs):
        return _not_tested(base, "metrics missing")
    pairs = [p for p in pairs if p]
    if not _enough_seeds(pairs):
        return _not_tested(base, "a paired test needs at least 2 seeds", _seeds_text(pairs))
    params_none = metrics.summary(none)["parameters"]  # type: ignore[index]
    parts, holds = [], True
    for variant, pair in zip(l2, pairs, strict=True):
        p = pair.p_two_sided()
        count = metrics.summary(variant)["parameters"]  # type: ignore[index]
        holds &= p >= alpha and count < params_none
        parts.append(f"{pair.a} vs {pair.b}: {pair.text(p)}, parameters {count} vs {params_none}")
    return Claim(
        **base, ours="; ".join(parts), seeds=_seeds_text(pairs), verdict=HOLDS if holds else FAILS
    )


def claim_max_pooling_worse(params: dict[str, Any], metrics: Metrics, alpha: float) -> Claim:
    grid = _table3(params)
    base = {
        "claim": "max_pooling_worse",
        "section": "4.4, Table 3",
        "finding": "Max-pooling across filters (maxout) performs worse than no pooling.",
        "paper": (
            f"no pooling {TABLE3_AUC[('none', 1)]:.4f}; max pools of 2 "
            f"{TABLE3_AUC[('max', 2)]:.4f}, of 4 {TABLE3_AUC[('max', 4)]:.4f}"
        ),
        "rule": (
            "for each max pool size: no pooling > max pooling, one-sided paired t-test over "
            f"seeds, p < {alpha}"
        ),
    }
    none = grid.get(("none", 1))
    pairs = [
        metrics.paired(none, v)
        for (kind, _), v in sorted(grid.items())
        if kind == "max" and none is not None
    ]
    return _all_significant(
        base, [p for p in pairs if p], alpha, "Table 3 needs no pooling and max pooling"
    )


# ---------------------------------------------------------------------------------------------
# The figures: what the strided filters learnt, per seed


@dataclass(frozen=True)
class FigureEvidence:
    """The trained filters' statistics per seed, and what they were trained for."""

    variant: str
    stats: dict[int, FilterBankStats]
    pools: dict[int, PoolAgreement]  # L2-pooling model; empty when not asked for
    updates: int | None


def _per_seed(
    stats: dict[int, Any], passes: Callable[[Any], bool], describe: Callable[[Any], str]
) -> tuple[str, bool]:
    texts = [f"seed {seed}: {describe(value)}" for seed, value in sorted(stats.items())]
    return "; ".join(texts), all(passes(value) for value in stats.values())


def figure2_claims(evidence: FigureEvidence | None, settings: ClaimSettings) -> list[Claim]:
    """Figure 2's three findings from the filters of the Fig. 2 model, every seed."""
    low, high = BAND_HZ
    share, octave_min = settings.lower_half_share, settings.octave_min_filters
    bases = [
        {
            "claim": "filters_frequency_selective",
            "section": "4.2, Fig. 2",
            "finding": (
                "Most of the raw-audio network's strided-layer filters are frequency-selective."
            ),
            "paper": "most features are indeed frequency-selective (Fig. 2, 128 filters, 512/512)",
            "rule": (
                f"per seed: at least {settings.selective_share:.0%} of the filters have a spectral "
                f"peak >= {settings.selective_peak_to_mean:g} x their mean power"
            ),
        },
        {
            "claim": "filters_cover_lower_half",
            "section": "4.2, Fig. 2",
            "finding": "The filters cover the lower half of the spectrum.",
            "paper": "dominant frequencies spread over 0-4 kHz (Fig. 2)",
            "rule": (
                f"per seed: at least {share:.0%} of the filters' dominant frequencies lie in "
                f"{low:.0f} Hz-{high / 1000:.0f} kHz, and each octave from 100 Hz to 3.2 kHz "
                f"holds at least {octave_min}"
            ),
        },
        {
            "claim": "filters_mel_like_density",
            "section": "4.2, Fig. 2",
            "finding": (
                "The filters linearly span the range up to about 1000 Hz, whereas filters "
                "selective "
                "for higher frequencies are more spread out (reminiscent of the mel scale)."
            ),
            "paper": "dense up to ~1 kHz, sparser above (Fig. 2)",
            "rule": (
                f"per seed: more filters per kHz in {low:.0f} Hz-{MEL_KNEE_HZ / 1000:.0f} kHz than "
                f"in {MEL_KNEE_HZ / 1000:.0f}-{high / 1000:.0f} kHz, with at least {octave_min} in "
                "each octave from 100 Hz to 3.2 kHz"
            ),
        },
    ]
    if evidence is None or not evidence.stats:
        return [_not_tested(base, "the Fig. 2 model is not trained") for base in bases]
    stats = evidence.stats
    seeds = ", ".join(str(s) for s in sorted(stats))

    def spans(s: FilterBankStats) -> bool:
        return s.octaves_with_at_least(octave_min) == len(s.octaves)

    checks = [
        (
            lambda s: s.selective_share >= settings.selective_share,
            lambda s: (
                f"{s.selective}/{s.filters} selective "
                f"(median peak/mean {s.median_peak_to_mean:.0f})"
            ),
        ),
        (
            lambda s: s.in_band_share >= share and spans(s),
            lambda s: (
                f"{s.in_band}/{s.filters} in band ({s.below_100_hz} below {low:.0f} Hz), per "
                f"octave {'/'.join(str(n) for n in s.octaves.values())}"
            ),
        ),
        (
            lambda s: s.density_below_knee > s.density_above_knee and spans(s),
            lambda s: (
                f"{s.density_below_knee:.1f} vs {s.density_above_knee:.1f} filters/kHz, per octave "
                f"{'/'.join(str(n) for n in s.octaves.values())}"
            ),
        ),
    ]
    claims = []
    for base, (passes, describe) in zip(bases, checks, strict=True):
        ours, holds = _per_seed(stats, passes, describe)
        claims.append(Claim(**base, ours=ours, seeds=seeds, verdict=HOLDS if holds else FAILS))
    return claims


def figure4_claims(evidence: FigureEvidence | None, settings: ClaimSettings) -> list[Claim]:
    """Figure 4's findings from the L2-pooling model's filters, every seed."""
    bases = [
        {
            "claim": "l2_pools_agree_in_frequency",
            "section": "4.4, Fig. 4",
            "finding": (
                "With L2 pooling, the filters of a pool are versions of one filter: they agree in "
                "dominant frequency."
            ),
            "paper": "most of the pools consist of filters that are translated or phase-shifted "
            "versions of each other (Fig. 4, pools of 4, 1024/1024)",
            "rule": (
                "per seed: the filters of a pool are closer in dominant frequency (octaves) than "
                "in random groupings of the same filters, permutation test "
                f"p < {settings.pool_p_value}"
            ),
        },
        {
            "claim": "l2_pools_phase_shifted",
            "section": "4.4, Fig. 4",
            "finding": "The filters of a pool are phase-shifted versions of each other.",
            "paper": "phase-shifted versions of each other (Fig. 4)",
            "rule": (
                "per seed: median over pools of the mean pairwise phase difference at the pool's "
                f"dominant frequency >= {settings.phase_spread_degrees:g} degrees (copies: 0; "
                "random phases: 90)"
            ),
        },
    ]
    if evidence is None or not evidence.pools:
        return [_not_tested(base, "the L2-pooling model is not trained") for base in bases]
    pools = evidence.pools
    seeds = ", ".join(str(s) for s in sorted(pools))
    checks = [
        (
            lambda a: a.p_value < settings.pool_p_value,
            lambda a: (
                f"spread {a.spread_octaves:.2f} vs {a.random_spread_octaves:.2f} octaves at "
                "random, "
                f"p={a.p_value:.2g}"
            ),
        ),
        (
            lambda a: a.phase_spread_degrees >= settings.phase_spread_degrees,
            lambda a: f"{a.phase_spread_degrees:.0f} degrees",
        ),
    ]
    claims = []
    for base, (passes, describe) in zip(bases, checks, strict=True):
        ours, holds = _per_seed(pools, passes, describe)
        claims.append(Claim(**base, ours=ours, seeds=seeds, verdict=HOLDS if holds else FAILS))
    return claims


def filter_evidence(
    model_dirs: dict[int, Path], settings: ClaimSettings, pool_size: int | None = None
) -> FigureEvidence | None:
    """The statistics of the trained filters of one figure's model, every seed that exists."""
    from pipeline.evaluation.filter_stats import strided_filters

    present = {seed: d for seed, d in model_dirs.items() if (Path(d) / "model.pt").is_file()}
    if not present:
        return None
    stats, pools, updates = {}, {}, None
    for seed, model_dir in sorted(present.items()):
        filters = strided_filters(model_dir)
        stats[seed] = filter_bank_stats(filters, settings.selective_peak_to_mean)
        if pool_size:
            pools[seed] = pool_agreement(filters, pool_size, settings.pool_permutations, seed=seed)
        config = json.loads((Path(model_dir) / "config.json").read_text())
        updates = config.get("training", {}).get("updates", updates)
    name = Path(next(iter(present.values()))).parent.name
    return FigureEvidence(name, stats, pools, updates)


# ---------------------------------------------------------------------------------------------
# The scorecard


def build_claims(
    params: dict[str, Any], metrics_dir: Path, model_dir: Callable[[str, int], Path]
) -> list[Claim]:
    """Every claim of the paper against this run's metrics and trained filters."""
    settings = ClaimSettings.from_params(params)
    metrics = Metrics(metrics_dir)
    alpha = settings.alpha
    seeds = params["experiments"]["seeds"]
    chosen = figure_variants(params)
    fig2 = filter_evidence({s: model_dir(chosen["filters"].name, s) for s in seeds}, settings)
    l2 = chosen["l2_groups"]
    fig4 = filter_evidence({s: model_dir(l2.name, s) for s in seeds}, settings, l2.pool_size)
    return [
        claim_spectrograms_beat_raw(params, metrics, alpha),
        claim_shorter_windows_help(params, metrics, alpha),
        claim_halving_stride_no_gain(params, metrics, alpha),
        claim_log_compression_hurts(params, metrics, alpha),
        claim_l2_pooling_as_good(params, metrics, alpha),
        claim_max_pooling_worse(params, metrics, alpha),
        *figure2_claims(fig2, settings),
        *figure4_claims(fig4, settings),
    ]


def seeds_that_did_not_learn(params: dict[str, Any], metrics_dir: Path) -> list[dict[str, Any]]:
    """Every (variant, seed) of Tables 1-3 whose best validation AUC stayed below
    :data:`UNTRAINED_VALID_AUC`: the findings comparing its variant rest partly on it."""
    metrics = Metrics(metrics_dir)
    variants = {
        v.name: v for of in (table1_variants, table2_variants, table3_variants) for v in of(params)
    }
    found = []
    for name, variant in variants.items():
        summary = metrics.summary(variant)
        for seed, result in sorted((summary or {}).get("seeds", {}).items()):
            if result["best_valid_auc"] < UNTRAINED_VALID_AUC:
                found.append({"variant": name, "seed": int(seed), **result})
    return found


def claims_table(claims: Sequence[Claim]) -> pd.DataFrame:
    return pd.DataFrame([c.to_dict() for c in claims], columns=CLAIM_COLUMNS)


def claims_metric(claims: Sequence[Claim], untrained: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The DVC metric: counts of each verdict, 1 / 0 per claim (absent: not tested), and the
    number of seeds that did not learn."""
    counts = {
        key: sum(c.verdict == verdict for c in claims)
        for key, verdict in (("holds", HOLDS), ("does_not_hold", FAILS), ("not_tested", NOT_TESTED))
    }
    per_claim = {c.claim: int(c.verdict == HOLDS) for c in claims if c.verdict != NOT_TESTED}
    return {**counts, "claims": per_claim, "seeds_that_did_not_learn": len(untrained)}


def claims_markdown(
    claims: Sequence[Claim], dataset: str, untrained: Sequence[dict[str, Any]] = ()
) -> str:
    """A readable scorecard: the verdicts first, then the seeds that did not learn, then each
    claim's numbers and rule."""
    held = sum(c.verdict == HOLDS for c in claims)
    lines = [
        f"# The paper's findings on this run (`{dataset}`)",
        "",
        f"{held} of {len(claims)} findings hold; "
        f"{sum(c.verdict == FAILS for c in claims)} do not; "
        f"{sum(c.verdict == NOT_TESTED for c in claims)} not tested.",
        "",
        "| finding | section | verdict |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {c.finding} | {c.section} | **{c.verdict}** |" for c in claims]
    if untrained:
        lines += [
            "",
            f"Seeds that did not learn (best validation AUC below {UNTRAINED_VALID_AUC}): "
            + "; ".join(
                f"{u['variant']} seed {u['seed']} (validation {u['best_valid_auc']:.3f} at "
                f"update {u['best_update']}, test {u['auc']:.3f})"
                for u in untrained
            )
            + ". Their AUCs are in the tables and in the tests below, as the protocol has them.",
        ]
    for c in claims:
        lines += [
            "",
            f"## {c.claim}: {c.verdict}",
            "",
            f"- Paper ({c.section}): {c.finding} {c.paper}",
            f"- Ours (seeds {c.seeds or 'none'}): {c.ours}",
            f"- Rule: {c.rule}",
        ]
    return "\n".join(lines) + "\n"
