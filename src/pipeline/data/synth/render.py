"""A whole clip: every part of a :class:`~.tags.ClipAttributes` rendered, mixed and levelled.

The mix follows the attributes audibly (register moves the spectrum, drums add transients,
dynamics set the level), so the tags derived from the same attributes can be learnt from audio.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.constants import SAMPLE_RATE
from pipeline.data.synth.bodies import through_body
from pipeline.data.synth.drums import render_drums
from pipeline.data.synth.dsp import CLIP_SAMPLES, TIME, Line, normalise, render_lines, rms
from pipeline.data.synth.effects import breath, noise_bed, reverb
from pipeline.data.synth.master import master
from pipeline.data.synth.music import (
    accompaniment,
    bass_line,
    foundation_line,
    make_song,
    melody,
)
from pipeline.data.synth.tags import ClipAttributes, clip_tags, sample_attributes
from pipeline.data.synth.timbres import instrument_timbre
from pipeline.data.synth.voice import render_voice

_MODES = {
    "piano": ("comp", "block", "arpeggio"),
    "strings": ("block",),
    "violin": ("block",),
    "flute": ("arpeggio",),
    "harpsichord": ("arpeggio", "comp"),
    "guitar": ("strum", "arpeggio"),
    "synth": ("arpeggio", "comp"),
}
"""How each instrument may accompany (one is drawn per clip)."""
_RMS_DB = {"loud": (-10.0, -7.0), "normal": (-21.0, -14.0), "quiet": (-37.0, -28.0)}
_PEAK = 0.8
"""Peak before encoding; mp3 decoding overshoots dense material by up to ~20%."""

_LEAD_RANGE = {"low": (36, 60), "mid": (57, 84), "high": (79, 100)}
"""MIDI range of a lead melody per register (flute and violin sit higher, see below)."""
_HIGH_LEAD_SHIFT = (8, 7)
"""Semitones by which the lower and upper end of a mid-register violin lead rise."""
_FLUTE_RANGE = (72, 96)
"""A flute lead plays in its second and third octaves (523-2093 Hz) unless the register is low."""
_ACCOMPANIMENT_BASE = {"low": 34, "mid": 48, "high": 67}
"""MIDI pitch above which an accompaniment stacks its chords, per register."""

_POWER_CHORD_DROP = 6
"""Semitones below the accompaniment base where a rock guitar plays its power chords..."""
_FIFTH = 7
"""...root and fifth (semitones above the root)."""
_DRIVE = (4, 8)
"""Gain into the distortion (tanh) of a rock guitar..."""
_METAL_DRIVE = 2.0
"""...multiplied by this for metal."""
_DRIVE_FLOOR = 1e-9
"""Keeps a silent guitar part from dividing by zero."""
_CABINET_HZ = (2500, 4500)
_CABINET_ORDER = 2
"""Low-pass of the guitar cabinet, which tames the distortion's harshest partials."""
_LEAD_DENSITY_SPREAD = 0.25
_LEAD_DENSITY_RANGE = (0.3, 2.5)
"""Notes per beat of a lead melody: around 1.6 - bpm / 150, with this spread and range."""

_LEAD_LEVEL = 1.0
_BACKING_LEVEL = 0.6
_RHYTHM_GUITAR_LEVEL = 1.0
_BASS_LEVEL = 0.7
_FOUNDATION_LEVEL_SPREAD = (0.3, 0.5)
"""The low foundation of a clip without a bass guitar, relative to a bass's level."""
_VOICE_LEVEL = 1.1
_BEAT_LEVEL = 1.0
_SPARSE_DRUMS_LEVEL = 0.6
"""Mix levels of the parts, relative to unit-RMS parts (before the clip's own level)."""
_LEVEL_SPREAD = (0.8, 1.2)
_VOICE_LEVEL_SPREAD = (0.85, 1.15)
"""Random factors on a part's mix level, so balances differ from clip to clip."""
_NOISE_LEVEL = (0.3, 0.7)
_WIND_LEVEL = (0.01, 0.03)
"""Levels of the ``noise`` bed and of the ambient wind, relative to the unit-RMS mix."""
_SWELL_DEPTH = (0.0, 0.25)
_SWELL_PERIOD = (8, 20)
"""A slow overall swell (seconds per cycle): a performance breathes."""


def _lead_range(name: str, register: str) -> tuple[int, int]:
    lo, hi = _LEAD_RANGE[register]
    if name == "flute" and register != "low":
        return _FLUTE_RANGE
    if name == "violin" and register == "mid":
        return lo + _HIGH_LEAD_SHIFT[0], hi + _HIGH_LEAD_SHIFT[1]
    return lo, hi


def render_clip(
    rng: np.random.Generator, attrs: ClipAttributes, samples: int = CLIP_SAMPLES
) -> np.ndarray:
    """Render ``attrs`` to float32 audio (16 kHz, peak below 1): MTAT's 29.1 s unless
    ``samples`` asks for a shorter clip (the portability probe's run on an emulated CPU)."""
    n = samples
    song = make_song(rng, attrs, n / SAMPLE_RATE)
    mix = np.zeros(n, dtype=np.float32)
    lead_taken = attrs.voice in ("female", "male")
    for i, name in enumerate(attrs.instruments):
        lead = not lead_taken and i == 0
        pad = name == "synth" and attrs.style == "ambient"
        base = _ACCOMPANIMENT_BASE[attrs.register]
        if name == "guitar" and attrs.style == "rock":
            timbre = instrument_timbre("distorted_guitar", rng)
            power = accompaniment(rng, song, base - _POWER_CHORD_DROP, "comp", n_voices=1)
            lines = power + [
                Line(ln.onsets, ln.durations, ln.pitches + _FIFTH, ln.velocities) for ln in power
            ]
            part = render_lines(lines, timbre, rng, n)
            drive = rng.uniform(*_DRIVE) * (_METAL_DRIVE if attrs.metal else 1.0)
            part = np.tanh(drive * part / (np.abs(part).max() + _DRIVE_FLOOR))
            part = through_body(part, "distorted_guitar", rng)
            cab = signal.butter(
                _CABINET_ORDER, rng.uniform(*_CABINET_HZ), "lowpass", fs=SAMPLE_RATE, output="sos"
            )
            part = signal.sosfilt(cab, part).astype(np.float32)
            level = _RHYTHM_GUITAR_LEVEL
        else:
            timbre = instrument_timbre(name, rng, pad=pad)
            if pad:
                lines = accompaniment(rng, song, base, "block", n_voices=3)
            elif lead:
                density = float(
                    np.clip(
                        rng.normal(1.6 - attrs.bpm / 150, _LEAD_DENSITY_SPREAD),
                        *_LEAD_DENSITY_RANGE,
                    )
                )
                lines = [melody(rng, song, _lead_range(name, attrs.register), density)]
            else:
                modes = _MODES[name]
                lines = accompaniment(rng, song, base, modes[int(rng.integers(len(modes)))])
            part = through_body(render_lines(lines, timbre, rng, n), name, rng)
            if name == "flute":
                part += breath(rng, part)
            level = _LEAD_LEVEL if lead else _BACKING_LEVEL
        mix += level * rng.uniform(*_LEVEL_SPREAD) * normalise(part)
    if attrs.bass:
        mix += (
            _BASS_LEVEL
            * rng.uniform(*_LEVEL_SPREAD)
            * normalise(
                through_body(
                    render_lines(
                        [bass_line(rng, song, attrs)], instrument_timbre("bass", rng), rng, n
                    ),
                    "bass",
                    rng,
                )
            )
        )
    else:
        low = "low_strings" if attrs.style in ("classical", "acoustic") else "drone"
        mix += (
            _BASS_LEVEL
            * rng.uniform(*_FOUNDATION_LEVEL_SPREAD)
            * normalise(
                render_lines([foundation_line(song, attrs)], instrument_timbre(low, rng), rng, n)
            )
        )
    if attrs.voice is not None:
        mix += (
            _VOICE_LEVEL
            * rng.uniform(*_VOICE_LEVEL_SPREAD)
            * normalise(through_body(render_voice(rng, song, attrs, n), "voice", rng))
        )
    if attrs.drums is not None:
        level = _BEAT_LEVEL if attrs.drums in ("four", "metal", "rock") else _SPARSE_DRUMS_LEVEL
        mix += (
            level * rng.uniform(*_LEVEL_SPREAD) * normalise(render_drums(rng, song, attrs.drums, n))
        )
    if attrs.reverb > 0:
        mix = reverb(rng, mix, attrs.reverb)
    mix = normalise(mix)
    if attrs.noise:
        mix += rng.uniform(*_NOISE_LEVEL) * noise_bed(rng, n, strong=True)
    elif attrs.style == "ambient":
        mix += rng.uniform(*_WIND_LEVEL) * noise_bed(rng, n, strong=False)
    swell = 1.0 + rng.uniform(*_SWELL_DEPTH) * np.sin(
        2 * np.pi * TIME[:n] / rng.uniform(*_SWELL_PERIOD) + rng.uniform(0, 2 * np.pi)
    )
    mix *= swell
    mix = master(rng, mix, attrs.dynamics)
    lo, hi = _RMS_DB[attrs.dynamics]
    target = 10 ** (rng.uniform(lo, hi) / 20)  # dB to amplitude
    mix *= target / rms(mix)
    peak = float(np.abs(mix).max())
    if peak > _PEAK:  # a limiter: loud clips are squashed, as loud masters are
        mix = _PEAK * np.tanh(mix / _PEAK)
    return np.clip(mix, -_PEAK, _PEAK).astype(np.float32)


def generate_clip(
    rng: np.random.Generator,
    attributes: ClipAttributes | None = None,
    samples: int = CLIP_SAMPLES,
) -> tuple[np.ndarray, set[str]]:
    """One clip (float32, 16 kHz, 29.1 s unless ``samples`` says otherwise) and its true tags.

    The attributes are drawn from ``rng`` unless given, so callers can control them.
    """
    if not 0 < samples <= CLIP_SAMPLES:
        raise ValueError(f"a clip has 1 to {CLIP_SAMPLES} samples (29.1 s), not {samples}")
    attrs = sample_attributes(rng) if attributes is None else attributes
    return render_clip(rng, attrs, samples), clip_tags(attrs)
