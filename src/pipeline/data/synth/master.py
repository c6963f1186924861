"""Mastering: what every mix goes through before its level is set.

A rumble high-pass and a presence lift shape the long-term spectrum like MagnaTagATune's mp3s:
little below 100 Hz and most of the power between 200 Hz and 3.2 kHz, then a low-pass above the
band where the tags' cues lie (docs/embedded_data.md compares the bands). Without the
high-pass, a kick drum's and a bass's fundamentals below 100 Hz were the strongest cue for most
tags, and a raw-audio network learnt nothing but sub-100 Hz filters. Dynamics colour the
spectrum as players do: loud is brighter, quiet darker.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.constants import SAMPLE_RATE
from pipeline.data.synth.dsp import peaking_sos

HIGHPASS_HZ = (90.0, 120.0)
"""Corner of the rumble high-pass (2nd order), drawn per clip."""
PRESENCE = (2200.0, 0.7, 9.0)
"""A broad presence lift: centre (Hz), Q, gain (dB)."""
LOWPASS_HZ = 6000.0
"""Corner of the low-pass (2nd order)."""
BRIGHTNESS = {"loud": (1500.0, 0.6, 1.2), "quiet": (1000.0, -0.7, -0.4)}
"""Per dynamics class: the corner (Hz) of a first-order high-passed copy of the mix, added with
a gain drawn from this range (positive: brighter)."""


def master(rng: np.random.Generator, mix: np.ndarray, dynamics: str) -> np.ndarray:
    """``mix`` high-passed, lifted, low-passed and coloured by its dynamics (float32)."""
    rumble = signal.butter(2, rng.uniform(*HIGHPASS_HZ), "highpass", fs=SAMPLE_RATE, output="sos")
    mix = signal.sosfilt(rumble, mix).astype(np.float32)
    top = signal.butter(2, LOWPASS_HZ, "lowpass", fs=SAMPLE_RATE, output="sos")
    mix = signal.sosfilt(np.concatenate([peaking_sos(*PRESENCE), top]), mix).astype(np.float32)
    if dynamics in BRIGHTNESS:
        corner, low_gain, high_gain = BRIGHTNESS[dynamics]
        tilt = signal.butter(1, corner, "highpass", fs=SAMPLE_RATE, output="sos")
        coloured = mix + rng.uniform(low_gain, high_gain) * signal.sosfilt(tilt, mix)
        mix = coloured.astype(np.float32)
    return mix
