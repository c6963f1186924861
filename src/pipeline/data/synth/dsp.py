"""Synthesis primitives: the clip's time grid, wavetable oscillators, note envelopes, levels.

A melodic part is a list of monophonic :class:`Line` s rendered with a :class:`Timbre` by
wavetable synthesis. Phases are fixed-point integers and envelopes float32, so a clip's audio
is exact and fast to compute, and the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.constants import SAMPLE_RATE

CLIP_SECONDS = 29.1
"""MTAT clips are 29.1 s long (465,600 samples at 16 kHz)."""

CLIP_SAMPLES = round(CLIP_SECONDS * SAMPLE_RATE)

TIME = np.arange(CLIP_SAMPLES + SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
"""Sample times in seconds, one second longer than a clip (for tails that ring past its end)."""

OCTAVE = 12
"""Semitones in an octave."""
_A4_MIDI = 69.0
_A4_HZ = 440.0

_TABLE_BITS = 12
_TABLE_SIZE = 1 << _TABLE_BITS
_TABLE_MASK = _TABLE_SIZE - 1
_NYQUIST_GUARD = 7200.0  # partials above this are left out of wavetables (no aliasing)
_FADE = 48  # samples of fade-out when a note is cut by the next one on its track
_PHASE_BITS = 32
"""Oscillators keep their phase as a fixed-point integer (cycles * 2**32): exact and fast."""
_RELEASE_TAIL = 4
"""A released note is rendered for this many release time constants (down to e**-4, ~2%)."""
_BRIGHTNESS_ATTACK = 1e-4
"""Seconds a note takes to reach its bright spectrum (the bright-to-dull fade starts at once)."""
_BRIGHTNESS_RELEASE = 1.0
"""Time constant (s) of the fade to the dull spectrum after a note's end."""
_PEDAL_DECAY = 0.8
"""Instruments that decay faster than this (1/s) are struck or plucked: their notes ring on."""
_RMS_FLOOR = 1e-12
"""Added to an RMS so that silence divides to zero, not to NaN."""


def midi_hz(midi: np.ndarray | float) -> np.ndarray:
    """Equal-tempered frequency of a MIDI pitch (A4 = MIDI 69 = 440 Hz)."""
    return _A4_HZ * 2.0 ** ((np.asarray(midi, dtype=np.float64) - _A4_MIDI) / OCTAVE)


def _wavetable(amps: np.ndarray, f_max: float) -> np.ndarray:
    """One period of a sum of sine partials ``amps[k-1] * sin(k x)``, band-limited for ``f_max``."""
    amps = np.asarray(amps, dtype=np.float64)
    k_max = max(1, int(_NYQUIST_GUARD // max(f_max, 1.0)))
    amps = amps[:k_max]
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[1 : len(amps) + 1] = -0.5j * _TABLE_SIZE * amps  # irfft of a sine of amplitude 1
    table = np.fft.irfft(spectrum, n=_TABLE_SIZE)
    peak = np.abs(table).max()
    return (table / peak if peak > 0 else table).astype(np.float32)


@dataclass(frozen=True)
class Timbre:
    """How a melodic instrument sounds: spectra, envelope, vibrato and polyphony on a line."""

    bright: np.ndarray
    # If given, each note fades from the bright to the dull spectrum (high partials decay first).
    dull: np.ndarray | None = None
    bright_decay: float = 0.0
    attack: float = 0.005
    decay: float = 0.0  # exponential amplitude decay rate while the note is held (1/s)
    release: float = 0.1
    vibrato_rate: float = 0.0
    vibrato_depth: float = 0.0  # relative frequency deviation
    tracks: int = 1  # notes of a line alternate over this many tracks, so tails overlap


@dataclass
class Line:
    """A monophonic sequence of notes (seconds, MIDI pitch, velocity)."""

    onsets: np.ndarray
    durations: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray

    @staticmethod
    def from_lists(notes: list[tuple[float, float, float, float]]) -> Line:
        arr = np.array(notes, dtype=np.float64).reshape(-1, 4)
        order = np.argsort(arr[:, 0], kind="stable")
        arr = arr[order]
        return Line(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def _note_envelopes(
    starts: np.ndarray,
    ends: np.ndarray,
    durations: np.ndarray,
    velocities: np.ndarray,
    rate: float,
    attack: float,
    release: float,
    n: int,
) -> np.ndarray:
    """Per-sample envelope of notes on one track: attack ramp, exponential decay, release."""
    env = np.zeros(n, dtype=np.float32)
    for start, end, dur, vel in zip(starts, ends, durations, velocities, strict=True):
        length = end - start
        if length <= 0:
            continue
        t = TIME[:length]
        e = np.minimum(t * np.float32(1.0 / attack), 1.0)
        if rate > 0:
            e *= np.exp(np.float32(-rate) * t)
        if dur < length:
            e[dur:] *= np.exp(t[: length - dur] * np.float32(-1.0 / release))
        fade = min(_FADE, length)
        e[length - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        env[start:end] = e * np.float32(vel)
    return env


def render_track(line: Line, timbre: Timbre, rng: np.random.Generator, n: int) -> np.ndarray:
    """Render one monophonic track by wavetable synthesis with a continuous phase.

    Only the span between the first onset and the last note's end is computed.
    """
    out = np.zeros(n, dtype=np.float32)
    starts = np.clip(np.round(line.onsets * SAMPLE_RATE).astype(np.int64), 0, n)
    keep = starts < n
    if not keep.any():
        return out
    starts = starts[keep]
    durs = np.maximum(np.round(line.durations[keep] * SAMPLE_RATE).astype(np.int64), 1)
    tail = int(_RELEASE_TAIL * timbre.release * SAMPLE_RATE)
    nxt = np.append(starts[1:], n)
    ends = np.minimum(np.minimum(nxt, starts + durs + tail), n)
    first, last = int(starts[0]), int(ends.max())
    m = last - first
    local = starts - first
    freqs = midi_hz(line.pitches[keep])
    increments = np.round(freqs / SAMPLE_RATE * 2.0**_PHASE_BITS).astype(np.int64)
    inc = np.repeat(increments, np.diff(np.append(local, m)))
    if timbre.vibrato_rate > 0:
        t = TIME[first:last]
        wobble = np.sin(
            np.float32(2 * np.pi * timbre.vibrato_rate) * t + np.float32(rng.uniform(0, 2 * np.pi))
        )
        inc = (inc * (1.0 + timbre.vibrato_depth * wobble)).astype(np.int64)
    idx = (np.cumsum(inc) >> (_PHASE_BITS - _TABLE_BITS)) & _TABLE_MASK
    f_max = float(freqs.max())
    tone = _wavetable(timbre.bright, f_max)[idx]
    if timbre.dull is not None:
        dull = _wavetable(timbre.dull, f_max)[idx]
        mix = _note_envelopes(
            local,
            ends - first,
            ends - starts,
            np.ones(len(starts)),
            timbre.bright_decay,
            _BRIGHTNESS_ATTACK,
            _BRIGHTNESS_RELEASE,
            m,
        )
        tone = dull + mix * (tone - dull)
    env = _note_envelopes(
        local,
        ends - first,
        durs,
        line.velocities[keep],
        timbre.decay,
        timbre.attack,
        timbre.release,
        m,
    )
    out[first:last] = tone * env
    return out


def render_lines(lines: list[Line], timbre: Timbre, rng: np.random.Generator, n: int) -> np.ndarray:
    """Render lines, spreading each line's notes over ``timbre.tracks`` tracks so tails ring on."""
    out = np.zeros(n, dtype=np.float32)
    # Decaying (struck, plucked) notes are held until their track's next note, like a sustain
    # pedal; sustained instruments keep their written lengths.
    ring = timbre.tracks if timbre.decay > _PEDAL_DECAY else 1
    for line in lines:
        for j in range(timbre.tracks):
            sub = Line(
                line.onsets[j :: timbre.tracks],
                line.durations[j :: timbre.tracks] * ring,
                line.pitches[j :: timbre.tracks],
                line.velocities[j :: timbre.tracks],
            )
            out += render_track(sub, timbre, rng, n)
    return out


def rms(x: np.ndarray) -> float:
    """Root mean square level, never zero."""
    return float(np.sqrt(np.mean(x * x))) + _RMS_FLOOR


def normalise(x: np.ndarray) -> np.ndarray:
    """Scale to unit RMS (float32), so parts are mixed at chosen levels."""
    return (x / rms(x)).astype(np.float32)


def formant_sos(formants: Sequence[float], bandwidths: Sequence[float]) -> np.ndarray:
    """Klatt cascade of two-pole resonators (unit gain at DC), as second-order sections."""
    sos = []
    for f, bw in zip(formants, bandwidths, strict=True):
        c = -np.exp(-2 * np.pi * bw / SAMPLE_RATE)
        b = 2 * np.exp(-np.pi * bw / SAMPLE_RATE) * np.cos(2 * np.pi * f / SAMPLE_RATE)
        a = 1 - b - c
        sos.append([a, 0.0, 0.0, 1.0, -b, -c])
    return np.array(sos)


def peaking_sos(centre: float, q: float, gain_db: float) -> np.ndarray:
    """One peaking-EQ section (RBJ cookbook): ``gain_db`` at ``centre`` Hz, 0 dB far from it."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * centre / SAMPLE_RATE
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]
