"""Figure 2's and Figure 4's readings on filter banks whose answer is known by construction."""

import numpy as np
import pytest

from pipeline.evaluation.filter_stats import (
    OCTAVE_EDGES_HZ,
    dominant_hz,
    filter_bank_stats,
    octave_counts,
    peak_to_mean,
    pool_agreement,
)

RATE = 16000


def sinusoids(frequencies, length=512, phases=None):
    """Hann-windowed sinusoids: the ideal frequency-selective filters."""
    t = np.arange(length) / RATE
    phases = np.zeros(len(frequencies)) if phases is None else np.asarray(phases)
    return np.stack(
        [
            np.hanning(length) * np.cos(2 * np.pi * f * t + p)
            for f, p in zip(frequencies, phases, strict=True)
        ]
    )


def test_dominant_frequency_is_where_each_filter_peaks():
    frequencies = [70.0, 150.0, 900.0, 2500.0, 5000.0]
    np.testing.assert_allclose(dominant_hz(sinusoids(frequencies)), frequencies, atol=8)


def test_sinusoids_are_selective_and_white_noise_is_not():
    rng = np.random.default_rng(0)
    assert (peak_to_mean(sinusoids([300.0, 1200.0, 3000.0])) > 50).all()
    noise = rng.uniform(-1, 1, size=(200, 512))  # Glorot initialisation's distribution
    ratios = peak_to_mean(noise)
    assert np.median(ratios) < 10, "the selectivity threshold must reject untrained filters"


def test_octave_counts_include_the_lower_edge_and_exclude_the_upper():
    counts = octave_counts(np.array([99.9, 100.0, 199.9, 200.0, 3199.0, 3200.0]))
    assert list(counts) == [
        f"{a:.0f}-{b:.0f}" for a, b in zip(OCTAVE_EDGES_HZ[:-1], OCTAVE_EDGES_HZ[1:], strict=True)
    ]
    assert list(counts.values()) == [2, 1, 0, 0, 1]


def mel_like_bank(filters=128):
    """Dominant frequencies spaced evenly on the mel scale from 100 Hz to 4 kHz."""
    mel = np.linspace(2595 * np.log10(1 + 115 / 700), 2595 * np.log10(1 + 3900 / 700), filters)
    return sinusoids(700 * (10 ** (mel / 2595) - 1))


def test_a_mel_spaced_bank_spans_every_octave_densest_below_1_khz():
    stats = filter_bank_stats(mel_like_bank(), selective_peak_to_mean=10)
    assert stats.selective == stats.in_band == 128
    assert stats.below_100_hz == 0
    assert stats.octaves_with_at_least(5) == len(stats.octaves) == 5
    assert stats.density_below_knee > stats.density_above_knee > 0


def test_a_bank_piled_below_100_hz_is_selective_but_spans_nothing():
    rng = np.random.default_rng(1)
    stats = filter_bank_stats(sinusoids(rng.uniform(35, 60, 128)), selective_peak_to_mean=10)
    assert stats.selective == 128
    assert stats.in_band == 0 and stats.below_100_hz == 128
    assert stats.octaves_with_at_least(5) == 0
    assert stats.density_below_knee == stats.density_above_knee == 0


def pooled_bank(pools, size, rng, same_phase=False, spread_octaves=0.02):
    """``pools`` pools of ``size`` filters, each pool near one frequency, random phases."""
    centres = np.exp(rng.uniform(np.log(150), np.log(3000), pools))
    frequencies = np.repeat(centres, size) * 2 ** rng.normal(0, spread_octaves, pools * size)
    phases = np.zeros(pools * size) if same_phase else rng.uniform(0, 2 * np.pi, pools * size)
    return sinusoids(frequencies, length=1024, phases=phases)


def test_pools_of_phase_shifted_copies_agree_beyond_chance():
    rng = np.random.default_rng(2)
    agreement = pool_agreement(pooled_bank(32, 4, rng), 4, permutations=999)
    assert agreement.p_value == pytest.approx(1 / 1000)
    assert agreement.spread_octaves < 0.1 < agreement.random_spread_octaves
    assert 60 < agreement.phase_spread_degrees < 120  # random phases: 90 on average


def test_filters_grouped_at_random_do_not_agree():
    rng = np.random.default_rng(3)
    bank = pooled_bank(32, 4, rng)
    shuffled = bank[rng.permutation(len(bank))]
    assert pool_agreement(shuffled, 4, permutations=999).p_value > 0.05


def test_identical_copies_have_no_phase_spread():
    rng = np.random.default_rng(4)
    bank = pooled_bank(16, 4, rng, same_phase=True, spread_octaves=0.0)
    assert pool_agreement(bank, 4, permutations=99).phase_spread_degrees == pytest.approx(0, abs=1)


def test_the_permutation_test_is_reproducible_and_checks_the_pool_size():
    rng = np.random.default_rng(5)
    bank = pooled_bank(8, 4, rng)
    assert pool_agreement(bank, 4, 199, seed=7) == pool_agreement(bank, 4, 199, seed=7)
    with pytest.raises(ValueError, match="pools of 3"):
        pool_agreement(bank, 3, 99)
