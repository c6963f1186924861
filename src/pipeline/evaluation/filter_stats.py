"""What the strided layer of a raw-audio network learnt, in numbers (the paper's Figures 2-4).

The paper reads its filters by eye: "most features are frequency-selective", "they cover the
lower half of the spectrum", "linearly span the frequency range up to about 1000 Hz, whereas
filters selective for higher frequencies are more spread out" (Fig. 2), and "most of the pools
consist of filters that are translated or phase-shifted versions of each other" (Fig. 4). Each
reading becomes a statistic here, computed from the filters' power spectra:

* a filter's *dominant frequency* is the argmax of its power spectrum ``|rfft(w)|^2`` (zero-padded
  to at least 1024 points, as Figure 2 draws it); it is *frequency-selective* when that peak is
  at least ``selective_peak_to_mean`` times the spectrum's mean power (white noise, which is
  where Glorot initialisation starts, gives about 5-7);
* *span and density*: how many filters have their dominant frequency in each octave from 100 Hz
  to 3.2 kHz, the share in 100 Hz - 4 kHz, and filters per Hz below and above 1 kHz;
* *pools agree* (L2 pooling): the mean pairwise distance in octaves between the dominant
  frequencies of the filters of one pool, against the same statistic for random groupings of
  the same filters (a permutation test, so that agreement by chance, when most filters sit in
  one band anyway, is not taken for structure);
* *phase-shifted*: within each pool, the filters' phases at the pool's common dominant bin,
  as the mean pairwise phase difference (0 degrees for copies, 90 on average for random phases).

Everything here is plain numpy on the weights, so it runs on any model and is tested on
hand-made filter banks whose answer is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.constants import SAMPLE_RATE

MIN_FFT = 1024
"""Filters are zero-padded to at least this many points before their spectra are taken."""
OCTAVE_EDGES_HZ = (100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)
"""The octaves whose filter counts say whether the filters span the spectrum (Fig. 2)."""
BAND_HZ = (100.0, 4000.0)
"""Where the paper's filters lie: above the sub-100 Hz rumble, in the lower half of 0-8 kHz."""
MEL_KNEE_HZ = 1000.0
"""Below this the mel scale (and the paper's filters) is about linear, above it logarithmic."""
_POWER_FLOOR = 1e-30
"""Keeps an all-zero filter's spectrum from dividing by zero."""


def strided_filters(model_dir: Path) -> np.ndarray:
    """The strided layer's filters of a trained raw-audio model, shape (filters, length)."""
    import torch

    state = torch.load(Path(model_dir) / "model.pt", map_location="cpu", weights_only=True)
    return state["front_end.conv.weight"][:, 0, :].numpy().astype(np.float64)


def n_fft_for(length: int) -> int:
    """The FFT size the statistics and the figures use for filters of ``length`` taps."""
    return max(length, MIN_FFT)


def power_spectra(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each filter's power spectrum ``|rfft|^2`` and the frequency (Hz) of every bin."""
    n_fft = n_fft_for(filters.shape[1])
    power = np.abs(np.fft.rfft(filters, n=n_fft, axis=1)) ** 2
    return power, np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)


def dominant_hz(filters: np.ndarray) -> np.ndarray:
    """Each filter's dominant frequency (Hz): where its power spectrum peaks."""
    power, hz = power_spectra(filters)
    return hz[np.argmax(power, axis=1)]


def peak_to_mean(filters: np.ndarray) -> np.ndarray:
    """Each filter's spectral peak over its mean power: how frequency-selective it is."""
    power, _ = power_spectra(filters)
    return power.max(axis=1) / (power.mean(axis=1) + _POWER_FLOOR)


def octave_counts(dominant: np.ndarray) -> dict[str, int]:
    """Filters whose dominant frequency lies in each octave of :data:`OCTAVE_EDGES_HZ`,
    keyed ``"100-200"`` ... (lower edge included, upper excluded)."""
    counts = {}
    for low, high in zip(OCTAVE_EDGES_HZ[:-1], OCTAVE_EDGES_HZ[1:], strict=True):
        counts[f"{low:.0f}-{high:.0f}"] = int(((dominant >= low) & (dominant < high)).sum())
    return counts


@dataclass(frozen=True)
class FilterBankStats:
    """Figure 2's reading of one trained filter bank (one seed)."""

    filters: int
    selective: int
    """Filters whose spectral peak is at least the threshold times their mean power."""
    in_band: int
    """Filters with their dominant frequency in :data:`BAND_HZ` (100 Hz - 4 kHz)."""
    below_100_hz: int
    octaves: dict[str, int]
    density_below_knee: float
    """Filters per kHz with dominant frequency in 100 Hz - 1 kHz..."""
    density_above_knee: float
    """...and in 1 kHz - 4 kHz: the mel-like shape has the first larger."""
    distinct_bins: int
    median_hz: float
    median_peak_to_mean: float

    @property
    def selective_share(self) -> float:
        return self.selective / self.filters

    @property
    def in_band_share(self) -> float:
        return self.in_band / self.filters

    def octaves_with_at_least(self, count: int) -> int:
        return sum(1 for n in self.octaves.values() if n >= count)

    def to_dict(self) -> dict[str, object]:
        return {
            "filters": self.filters,
            "selective": self.selective,
            "in_band": self.in_band,
            "below_100_hz": self.below_100_hz,
            "octaves": dict(self.octaves),
            "density_below_1khz_per_khz": round(self.density_below_knee, 3),
            "density_above_1khz_per_khz": round(self.density_above_knee, 3),
            "distinct_bins": self.distinct_bins,
            "median_hz": round(self.median_hz, 1),
            "median_peak_to_mean": round(self.median_peak_to_mean, 2),
        }


def filter_bank_stats(filters: np.ndarray, selective_peak_to_mean: float) -> FilterBankStats:
    """The Figure 2 statistics of ``filters`` (filters x taps)."""
    dominant = dominant_hz(filters)
    ratio = peak_to_mean(filters)
    low, high = BAND_HZ
    below = ((dominant >= low) & (dominant < MEL_KNEE_HZ)).sum()
    above = ((dominant >= MEL_KNEE_HZ) & (dominant < high)).sum()
    return FilterBankStats(
        filters=len(filters),
        selective=int((ratio >= selective_peak_to_mean).sum()),
        in_band=int(((dominant >= low) & (dominant < high)).sum()),
        below_100_hz=int((dominant < low).sum()),
        octaves=octave_counts(dominant),
        density_below_knee=float(below) / ((MEL_KNEE_HZ - low) / 1000.0),
        density_above_knee=float(above) / ((high - MEL_KNEE_HZ) / 1000.0),
        distinct_bins=len(np.unique(dominant)),
        median_hz=float(np.median(dominant)),
        median_peak_to_mean=float(np.median(ratio)),
    )


def _octaves(dominant: np.ndarray, bin_hz: float) -> np.ndarray:
    """Dominant frequencies in octaves; a DC peak counts as half the first bin (no log of 0)."""
    return np.log2(np.maximum(dominant, bin_hz / 2))


def _mean_pairwise_distance(values: np.ndarray) -> np.ndarray:
    """Mean |a - b| over the pairs of each row of ``values`` (..., pool) -> (...)."""
    diffs = np.abs(values[..., :, None] - values[..., None, :])
    size = values.shape[-1]
    return diffs.sum(axis=(-1, -2)) / (size * (size - 1))


@dataclass(frozen=True)
class PoolAgreement:
    """Figure 4's reading of one L2-pooling model (one seed)."""

    pools: int
    pool_size: int
    spread_octaves: float
    """Mean over pools of the mean pairwise distance (octaves) of their filters' dominant
    frequencies."""
    random_spread_octaves: float
    """The same for random groupings of the same filters (median over the permutations)."""
    p_value: float
    """Share of random groupings that agree at least as well (with the observed one counted)."""
    phase_spread_degrees: float
    """Median over pools of the mean pairwise phase difference at the pool's dominant bin."""
    permutations: int

    def to_dict(self) -> dict[str, object]:
        return {
            "pools": self.pools,
            "pool_size": self.pool_size,
            "spread_octaves": round(self.spread_octaves, 4),
            "random_spread_octaves": round(self.random_spread_octaves, 4),
            "p_value": self.p_value,
            "phase_spread_degrees": round(self.phase_spread_degrees, 1),
            "permutations": self.permutations,
        }


def _phase_spread_degrees(filters: np.ndarray, pool_size: int) -> float:
    """Median over pools of the mean pairwise phase difference (degrees, 0-180) of the pool's
    filters at the bin where the pool's summed power peaks."""
    n_fft = n_fft_for(filters.shape[1])
    spectra = np.fft.rfft(filters, n=n_fft, axis=1).reshape(-1, pool_size, n_fft // 2 + 1)
    common = np.argmax((np.abs(spectra) ** 2).sum(axis=1), axis=1)
    phases = np.angle(np.take_along_axis(spectra, common[:, None, None], axis=2)[..., 0])
    wrapped = np.abs(np.angle(np.exp(1j * (phases[:, :, None] - phases[:, None, :]))))
    per_pool = wrapped.sum(axis=(1, 2)) / (pool_size * (pool_size - 1))
    return float(np.degrees(np.median(per_pool)))


def pool_agreement(
    filters: np.ndarray, pool_size: int, permutations: int, seed: int = 0
) -> PoolAgreement:
    """Do the filters of each pool (consecutive ``pool_size`` filters, as the network pools
    them) agree in dominant frequency more than random groupings of the same filters do?

    The permutation test draws ``permutations`` random groupings from a generator seeded with
    ``seed`` (so the p-value is reproducible); p is the share of groupings, the observed one
    included, whose spread is at most the observed spread.
    """
    if len(filters) % pool_size:
        raise ValueError(f"{len(filters)} filters do not split into pools of {pool_size}")
    power, hz = power_spectra(filters)
    octaves = _octaves(hz[np.argmax(power, axis=1)], hz[1])
    observed = float(_mean_pairwise_distance(octaves.reshape(-1, pool_size)).mean())
    rng = np.random.default_rng(seed)
    shuffled = np.stack([octaves[rng.permutation(len(octaves))] for _ in range(permutations)])
    null = _mean_pairwise_distance(shuffled.reshape(permutations, -1, pool_size)).mean(axis=1)
    p_value = (1 + int((null <= observed).sum())) / (1 + permutations)
    return PoolAgreement(
        pools=len(filters) // pool_size,
        pool_size=pool_size,
        spread_octaves=observed,
        random_spread_octaves=float(np.median(null)),
        p_value=p_value,
        phase_spread_degrees=_phase_spread_degrees(filters, pool_size),
        permutations=permutations,
    )
