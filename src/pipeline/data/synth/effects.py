"""Effects laid over a mix: a diffuse reverb, a flute's breath, and noise beds.

They add what separates a real recording from clean synthesis (room, breath, hiss), which the
``noise`` and ``ambient`` tags and the reverberant styles rely on.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.constants import SAMPLE_RATE
from pipeline.data.synth.dsp import TIME, normalise, rms

_RT60_RANGE = (1.0, 2.5)
"""Reverb time: seconds for the tail to decay by 60 dB."""
_MAX_IR_SECONDS = 1.5
"""The impulse response is cut here (longer tails add little but cost convolution time)."""
_LN_60_DB = 6.9
"""ln(1000) rounded: the amplitude decay exponent over 60 dB."""

_BREATH_SMOOTHING_HZ = 30
"""Cutoff of the low-pass that turns the flute's tone into the breath's envelope."""
_BREATH_BAND_HZ = (1500, 5000)
_BREATH_ORDER = 2
_BREATH_LEVEL = (0.05, 0.12)
"""Breath level relative to the tone."""

_HISS_CUTOFF_HZ = (2000, 7000)
"""Range of the low-pass cutoff that colours the ``noise`` hiss."""
_CLICKS_PER_SECOND = (20, 120)
_CLICK_LEVEL = 8
"""Peak of a crackle click relative to the unit-RMS hiss."""
_WIND_LOW_HZ = (150, 300)
_WIND_HIGH_HZ = (800, 1500)
"""Ranges of the lower and upper edge of the ambient wind's band."""
_WIND_ORDER = 4
_WIND_SWELL_DEPTH = 0.6
_WIND_SWELL_HZ = (0.05, 0.15)
"""How fast the wind breathes (one swell every 7-20 s)."""
_WIND_SWELL_PHASE = (0, 6)


def reverb(rng: np.random.Generator, x: np.ndarray, wet: float) -> np.ndarray:
    """A diffuse tail (exponentially decaying noise) that smears notes into each other."""
    rt60 = rng.uniform(*_RT60_RANGE)
    t = TIME[: int(min(rt60, _MAX_IR_SECONDS) * SAMPLE_RATE)]
    ir = rng.standard_normal(len(t)).astype(np.float32) * np.exp(t * np.float32(-_LN_60_DB / rt60))
    ir /= np.sqrt(np.sum(np.square(ir)))
    tail = signal.fftconvolve(x, ir)[: len(x)].astype(np.float32)
    return (1 - wet) * x + wet * tail * (rms(x) / rms(tail))


def breath(rng: np.random.Generator, tone: np.ndarray) -> np.ndarray:
    """A flute's breath: band-passed noise following the tone's smoothed amplitude."""
    smooth = signal.butter(1, _BREATH_SMOOTHING_HZ, "lowpass", fs=SAMPLE_RATE, output="sos")
    envelope = signal.sosfilt(smooth, np.abs(tone))
    band = signal.butter(
        _BREATH_ORDER, list(_BREATH_BAND_HZ), "bandpass", fs=SAMPLE_RATE, output="sos"
    )
    noise = signal.sosfilt(band, rng.standard_normal(len(tone)))
    return (rng.uniform(*_BREATH_LEVEL) * noise * envelope).astype(np.float32)


def noise_bed(rng: np.random.Generator, n: int, strong: bool) -> np.ndarray:
    """Hiss and crackle (``noise``) or a faint, slowly breathing wind (ambient texture)."""
    white = rng.standard_normal(n).astype(np.float32)
    if strong:
        cutoff = rng.uniform(*_HISS_CUTOFF_HZ)
        sos = signal.butter(1, cutoff, "lowpass", fs=SAMPLE_RATE, output="sos")
        bed = signal.sosfilt(sos, white).astype(np.float32)
        clicks = np.zeros(n, dtype=np.float32)
        where = rng.integers(0, n, size=int(rng.uniform(*_CLICKS_PER_SECOND) * (n / SAMPLE_RATE)))
        clicks[where] = rng.uniform(-1, 1, size=len(where)) * _CLICK_LEVEL
        return normalise(bed) + clicks
    sos = signal.butter(
        _WIND_ORDER,
        [rng.uniform(*_WIND_LOW_HZ), rng.uniform(*_WIND_HIGH_HZ)],
        "bandpass",
        fs=SAMPLE_RATE,
        output="sos",
    )
    swell = 1 + _WIND_SWELL_DEPTH * np.sin(
        2 * np.pi * rng.uniform(*_WIND_SWELL_HZ) * TIME[:n] + rng.uniform(*_WIND_SWELL_PHASE)
    )
    return normalise(signal.sosfilt(sos, white).astype(np.float32) * swell)
