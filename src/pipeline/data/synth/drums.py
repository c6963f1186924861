"""Drums: a synthesised kit (kick, snare, hi-hats, a bell) played on a sixteenth-note grid.

Drums bring the transients that the ``drums`` and ``beat`` tags (and the styles that come with
drums) are heard by, in every octave a kit covers: the kick's punch and the snare's head low,
a cowbell's two partials in the middle, the hats' ringing metal and hiss on top. Spread so, no
one band is the drums' cue: a raw-audio network that learns to hear them learns filters across
the spectrum, not only where a kick drum thumps (docs/embedded_data.md).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.constants import SAMPLE_RATE
from pipeline.data.synth.dsp import TIME
from pipeline.data.synth.music import BEATS_PER_BAR, Song

_KICK_SECONDS = 0.4
_KICK_BASE_HZ = (55, 75)
_KICK_SWEEP_HZ = (60, 110)
"""The kick's pitch falls from base + sweep to base..."""
_KICK_SWEEP_RATE = (25, 45)
"""...at this exponential rate (1/s)."""
_KICK_DECAY = (7, 12)
_KICK_CLICK_SAMPLES = 40
_KICK_CLICK_LEVEL = 1.0
"""The beater's click: a short burst of noise fading out from this level."""
_SNARE_SECONDS = 0.25
_SNARE_LOW_HZ = (900, 1500)
_SNARE_HIGH_HZ = 4000
"""Band of the snare's rattle (noise)."""
_SNARE_ORDER = 2
_SNARE_DECAY = (18, 28)
_SNARE_BODY_LEVEL = 1.0
_SNARE_BODY_HZ = (170, 220)
_SNARE_BODY_DECAY = 25
"""The drum head's tone under the rattle."""
_HAT_SECONDS = 0.3
_HAT_CUTOFF_HZ = (5000, 6500)
_HAT_ORDER = 4
_HAT_DECAY = (45, 70)
_OPEN_HAT_DECAY = (9, 14)
"""A hat's hiss: high-passed noise, short (closed) or longer (open)..."""
_METAL_PARTIALS_HZ = (2200.0, 3600.0)
_METAL_PARTIALS = 6
_METAL_LEVEL = 1.0
_RING_DECAY = (6, 12)
"""...over the ring of its metal: inharmonic partials of a small plate, drawn per kit."""
_BELL_HZ = (650.0, 1100.0)
_BELL_RATIO = 1.48
_BELL_SECOND_LEVEL = 0.7
_BELL_DECAY = (10, 18)
"""A cowbell: two partials (the second 1.48 times the first, softer) that ring briefly."""

_STEPS_PER_BAR = 16
_STEPS_PER_BEAT = _STEPS_PER_BAR // BEATS_PER_BAR
_DRUM_PATTERNS = {  # 16 steps per bar: (kick steps, snare steps, hat steps, open-hat steps)
    "four": (
        [0, 4, 8, 12],
        [4, 12],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [2, 6, 10, 14],
    ),
    "rock": ([0, 8, 10], [4, 12], [0, 2, 4, 6, 8, 10, 12, 14], []),
    "metal": ([0, 2, 4, 6, 8, 10, 12, 14], [4, 12], [0, 2, 4, 6, 8, 10, 12, 14], [0]),
    "sparse": ([0], [8], [0, 4, 8, 12], []),
}
_DRUM_LEVEL = {"kick": 0.8, "snare": 0.8, "hat": 0.5, "open": 0.4, "bell": 1.0}
_BELL_STEPS = [0, 4, 8, 12]
"""The bell marks the beats of every pattern but the sparse one."""
_P_NO_CLAP = 0.4
"""Chance that a four-on-the-floor pattern drops its snare (some techno has no clap)."""
_P_ROCK_KICK_VARIANT = 0.5
_ROCK_KICK_VARIANT = [0, 6, 8]
_FILL_EVERY = 4
"""Every 4th bar ends in a snare fill on its last four sixteenths (except four on the floor)."""
_FILL_STEPS = {12, 13, 14, 15}
_TIMING_JITTER = 40
"""Hits are off the grid by up to this many samples (played, not programmed; not for techno)."""
_HIT_VELOCITY = (0.8, 1.0)
_OFFBEAT_VELOCITY = 0.8
"""Hits between beats are played softer by this factor."""


def _drum_kit(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot samples: a sine-sweep kick, a noise snare, closed and open hi-hats, a bell."""
    t = TIME[: int(_KICK_SECONDS * SAMPLE_RATE)].astype(np.float64)
    f = rng.uniform(*_KICK_BASE_HZ) + rng.uniform(*_KICK_SWEEP_HZ) * np.exp(
        -t * rng.uniform(*_KICK_SWEEP_RATE)
    )
    kick = np.sin(2 * np.pi * np.cumsum(f) / SAMPLE_RATE) * np.exp(-t * rng.uniform(*_KICK_DECAY))
    kick[:_KICK_CLICK_SAMPLES] += rng.standard_normal(_KICK_CLICK_SAMPLES) * np.linspace(
        _KICK_CLICK_LEVEL, 0, _KICK_CLICK_SAMPLES
    )
    ts = t[: int(_SNARE_SECONDS * SAMPLE_RATE)]
    band = signal.butter(
        _SNARE_ORDER,
        [rng.uniform(*_SNARE_LOW_HZ), _SNARE_HIGH_HZ],
        "bandpass",
        fs=SAMPLE_RATE,
        output="sos",
    )
    snare = signal.sosfilt(band, rng.standard_normal(len(ts))) * np.exp(
        -ts * rng.uniform(*_SNARE_DECAY)
    )
    snare += (
        _SNARE_BODY_LEVEL
        * np.sin(2 * np.pi * rng.uniform(*_SNARE_BODY_HZ) * ts)
        * np.exp(-ts * _SNARE_BODY_DECAY)
    )
    high = signal.butter(
        _HAT_ORDER, rng.uniform(*_HAT_CUTOFF_HZ), "highpass", fs=SAMPLE_RATE, output="sos"
    )
    th = t[: int(_HAT_SECONDS * SAMPLE_RATE)]
    hiss = signal.sosfilt(high, rng.standard_normal(len(th)))
    plate = rng.uniform(*_METAL_PARTIALS_HZ, size=_METAL_PARTIALS)
    ring = (
        np.sin(
            2 * np.pi * plate[:, None] * th[None, :]
            + rng.uniform(0, 2 * np.pi, (_METAL_PARTIALS, 1))
        ).sum(axis=0)
        / _METAL_PARTIALS
        * np.exp(-th * rng.uniform(*_RING_DECAY))
    )
    hiss = hiss / np.abs(hiss).max()
    hat = hiss * np.exp(-th * rng.uniform(*_HAT_DECAY)) + _METAL_LEVEL * ring
    open_hat = hiss * np.exp(-th * rng.uniform(*_OPEN_HAT_DECAY)) + _METAL_LEVEL * ring
    bell_hz = rng.uniform(*_BELL_HZ)
    bell = (
        np.sin(2 * np.pi * bell_hz * th)
        + _BELL_SECOND_LEVEL * np.sin(2 * np.pi * _BELL_RATIO * bell_hz * th)
    ) * np.exp(-th * rng.uniform(*_BELL_DECAY))
    kit = {"kick": kick, "snare": snare, "hat": hat, "open": open_hat, "bell": bell}
    return {k: (v / np.abs(v).max()).astype(np.float32) for k, v in kit.items()}


def render_drums(rng: np.random.Generator, song: Song, pattern: str, n: int) -> np.ndarray:
    """Play ``pattern`` on a freshly drawn kit along the song's beat grid."""
    kit = _drum_kit(rng)
    kick, snare, hat, open_hat = _DRUM_PATTERNS[pattern]
    hits = {"kick": list(kick), "snare": list(snare), "hat": list(hat), "open": list(open_hat)}
    if pattern != "sparse":
        hits["bell"] = _BELL_STEPS
    if pattern == "four" and rng.random() < _P_NO_CLAP:
        hits["snare"] = []
    if pattern == "rock" and rng.random() < _P_ROCK_KICK_VARIANT:
        hits["kick"] = _ROCK_KICK_VARIANT
    out = np.zeros(n + SAMPLE_RATE, dtype=np.float32)  # a second of room for the last tails
    sixteenth = song.beat / _STEPS_PER_BEAT
    n_bars = song.n_beats // BEATS_PER_BAR + 1
    for name, steps in hits.items():
        sample = kit[name]
        for bar in range(n_bars):
            fill = pattern != "four" and bar % _FILL_EVERY == _FILL_EVERY - 1
            bar_steps = steps
            if name == "snare" and fill:
                bar_steps = sorted(set(steps) | _FILL_STEPS)
            for s in bar_steps:
                start = int(
                    round((song.offset + (bar * _STEPS_PER_BAR + s) * sixteenth) * SAMPLE_RATE)
                )
                if pattern != "four":
                    start += int(rng.integers(-_TIMING_JITTER, _TIMING_JITTER + 1))
                if start < 0 or start >= n:
                    continue
                on_beat = s % _STEPS_PER_BEAT == 0
                vel = (
                    _DRUM_LEVEL[name]
                    * rng.uniform(*_HIT_VELOCITY)
                    * (1.0 if on_beat else _OFFBEAT_VELOCITY)
                )
                out[start : start + len(sample)] += vel * sample[: len(out) - start]
    return out[:n]
