"""How each melodic instrument and the bass sound, as :class:`~.dsp.Timbre` s.

Every timbre is drawn with small random variations (spectral slope, decay, vibrato), so two
pianos in two clips are alike but not identical, as recordings of different pianos are.
"""

from __future__ import annotations

import numpy as np

from pipeline.data.synth.dsp import Timbre

N_PARTIALS = 60
"""Harmonic partials in a timbre's spectrum (wavetables drop those that would alias)."""
_JITTER = 0.15
"""Relative random spread of each partial's amplitude (acoustic instruments)."""
_HARPSICHORD_PLUCK = (0.08, 0.14)
_GUITAR_PLUCK = (0.15, 0.25)
"""Where a string is plucked, as a share of its length (it nulls every 1/share-th partial)."""
_GUITAR_PARTIAL_FLOOR = 1e-3
"""Keeps the partials a pluck position nulls faintly audible."""
_VIOLIN_BODY_GAIN = 2.0
_VIOLIN_BODY_PARTIAL = 10
_VIOLIN_BODY_WIDTH = 5.0
"""The violin body boosts partials around the 10th by up to 3x (a Gaussian 5 partials wide)."""
_P_SQUARE = 0.5
"""Chance that a synth is square-like (odd partials only) rather than sawtooth-like."""
_BASS_PARTIALS = (1.0, 0.6, 0.35, 0.2, 0.1, 0.05)


def harmonics(n: int) -> np.ndarray:
    """Partial numbers 1..n (float), for spectra like ``1 / harmonics(n)``."""
    return np.arange(1, n + 1, dtype=np.float64)


def instrument_timbre(name: str, rng: np.random.Generator, pad: bool = False) -> Timbre:
    """The timbre of ``name``, with small random variations so no two clips sound identical."""
    k = harmonics(N_PARTIALS)
    jitter = 1.0 + _JITTER * rng.standard_normal(N_PARTIALS)
    if name == "piano":
        return Timbre(
            bright=k ** -rng.uniform(0.9, 1.2) * np.abs(jitter),
            dull=k**-2.8,
            bright_decay=rng.uniform(3.0, 6.0),
            attack=0.003,
            decay=rng.uniform(1.0, 1.8),
            release=0.12,
            tracks=2,
        )
    if name == "harpsichord":
        pluck = np.abs(np.sin(np.pi * k * rng.uniform(*_HARPSICHORD_PLUCK)))
        return Timbre(
            bright=k**-0.35 * pluck,
            dull=k**-1.2 * pluck,
            bright_decay=rng.uniform(4.0, 7.0),
            attack=0.001,
            decay=rng.uniform(2.5, 3.5),
            release=0.08,
            tracks=2,
        )
    if name == "guitar":
        pluck = np.abs(np.sin(np.pi * k * rng.uniform(*_GUITAR_PLUCK)))
        return Timbre(
            bright=k**-0.9 * pluck + _GUITAR_PARTIAL_FLOOR,
            dull=k**-2.4,
            bright_decay=rng.uniform(5.0, 9.0),
            attack=0.002,
            decay=rng.uniform(1.8, 2.8),
            release=0.08,
            tracks=2,
        )
    if name == "distorted_guitar":  # sustained; render_clip drives it through tanh
        return Timbre(bright=k**-1.0, attack=0.004, decay=0.4, release=0.05, tracks=1)
    if name == "strings":
        return Timbre(
            bright=k**-1.15 * np.abs(jitter),
            attack=rng.uniform(0.15, 0.35),
            decay=0.05,
            release=rng.uniform(0.2, 0.4),
            vibrato_rate=rng.uniform(5.0, 6.0),
            vibrato_depth=rng.uniform(0.003, 0.006),
        )
    if name == "violin":
        body = 1.0 + _VIOLIN_BODY_GAIN * np.exp(
            -(((k - _VIOLIN_BODY_PARTIAL) / _VIOLIN_BODY_WIDTH) ** 2)
        )
        return Timbre(
            bright=k**-1.0 * body * np.abs(jitter),
            attack=rng.uniform(0.05, 0.09),
            decay=0.1,
            release=0.15,
            vibrato_rate=rng.uniform(5.5, 6.8),
            vibrato_depth=rng.uniform(0.005, 0.009),
        )
    if name == "flute":
        amps = np.zeros(N_PARTIALS)
        amps[:5] = [1.0, rng.uniform(0.15, 0.4), rng.uniform(0.05, 0.15), 0.04, 0.02]
        return Timbre(
            bright=amps,
            attack=rng.uniform(0.04, 0.08),
            decay=0.15,
            release=0.1,
            vibrato_rate=rng.uniform(4.5, 5.5),
            vibrato_depth=rng.uniform(0.002, 0.005),
        )
    if name == "synth":
        square = rng.random() < _P_SQUARE
        base = np.where(k % 2 == 1, 1.0 / k, 0.0) if square else 1.0 / k
        if pad:
            return Timbre(
                bright=base * k ** -rng.uniform(0.8, 1.5),
                attack=rng.uniform(0.4, 1.2),
                decay=0.0,
                release=rng.uniform(0.6, 1.2),
                vibrato_rate=rng.uniform(0.2, 0.6),
                vibrato_depth=0.002,
            )
        return Timbre(
            bright=base,
            dull=base * k**-1.8,
            bright_decay=rng.uniform(6.0, 14.0),
            attack=0.004,
            decay=rng.uniform(0.5, 3.0),
            release=0.05,
            tracks=2,
        )
    if name == "low_strings":  # bowed cellos and basses: slow attack, rich, sustained
        return Timbre(
            bright=k**-1.3 * np.abs(jitter),
            attack=rng.uniform(0.2, 0.4),
            decay=0.05,
            release=rng.uniform(0.3, 0.5),
            vibrato_rate=rng.uniform(4.5, 5.5),
            vibrato_depth=rng.uniform(0.002, 0.004),
        )
    if name == "drone":  # a soft held pad
        return Timbre(
            bright=k ** -rng.uniform(1.5, 2.2),
            attack=rng.uniform(0.5, 1.0),
            decay=0.0,
            release=rng.uniform(0.6, 1.0),
        )
    if name == "bass":
        amps = np.zeros(N_PARTIALS)
        amps[: len(_BASS_PARTIALS)] = _BASS_PARTIALS
        return Timbre(bright=amps, attack=0.006, decay=rng.uniform(0.5, 2.0), release=0.06)
    raise ValueError(f"unknown instrument {name!r}")
