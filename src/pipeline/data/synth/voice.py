"""Voices: a sung lead line (female or male) or a choir, by source-filter synthesis.

A harmonic source is shaped by vowel formants that change at each syllable, which is what
makes it heard as a voice (and tagged ``vocal``) rather than as one more instrument.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.constants import SAMPLE_RATE
from pipeline.data.synth.dsp import OCTAVE, Line, Timbre, formant_sos, render_track
from pipeline.data.synth.music import BEATS_PER_BAR, Song, accompaniment, melody
from pipeline.data.synth.tags import ClipAttributes
from pipeline.data.synth.timbres import N_PARTIALS, harmonics

_VOWELS = {  # male formants (F1, F2, F3) in Hz; female ones are scaled up
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2200, 3000),
    "o": (570, 840, 2410),
    "u": (320, 870, 2240),
}
_FEMALE_FORMANT_SCALE = (1.12, 1.22)
_MALE_FORMANT_SCALE = (0.95, 1.05)
_FORMANT_BANDWIDTHS = (90.0, 110.0, 160.0)
"""Bandwidths (Hz) of F1, F2, F3..."""
_FEMALE_BANDWIDTH_SCALE = 1.3
"""...widened by this factor for female voices."""

_CHOIR_BASE = 53
"""MIDI pitch above which the choir's upper voices stack their chords (a bass voice doubles the
lowest an octave down)."""
_CHOIR_ENTRY_SPREAD = 0.05
"""Seconds by which choir voices enter apart at most."""
_CHOIR_DETUNE = 0.08
"""Standard deviation (semitones) of each choir voice's detuning."""
_FEMALE_RANGE = (55, 79)
_MALE_RANGE = (43, 64)
"""MIDI ranges of a sung lead."""
_SUNG_LEGATO = 0.9
_SUNG_DENSITY_RANGE = (0.5, 1.1)
"""Notes per beat of a sung line (1.3 - bpm / 200, clipped to this range)."""
_PHRASE_BARS = (2, 5)
"""A phrase lasts 2-4 bars (end excluded)..."""
_BREATH_HALF_BARS = (1, 3)
"""...then the singer breathes for one or two half bars (end excluded)."""
_ASPIRATION_LEVEL = 0.02
_ASPIRATION_GATE = 0.01
"""Breathiness: noise at this level, added where the source is louder than the gate."""


def _sing(
    rng: np.random.Generator,
    sources: np.ndarray,
    boundaries: np.ndarray,
    female: bool,
) -> np.ndarray:
    """Filter a glottal-like source through vowel formants that change at each syllable."""
    if female:
        scale = rng.uniform(*_FEMALE_FORMANT_SCALE)
    else:
        scale = rng.uniform(*_MALE_FORMANT_SCALE)
    widths = np.array(_FORMANT_BANDWIDTHS) * (_FEMALE_BANDWIDTH_SCALE if female else 1.0)
    out = np.empty_like(sources)
    zi = np.zeros((len(_FORMANT_BANDWIDTHS), 2))  # one two-pole section per formant
    edges = np.concatenate(
        [[0], boundaries[(boundaries > 0) & (boundaries < len(sources))], [len(sources)]]
    ).astype(np.int64)
    vowels = list(_VOWELS)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        formants = np.array(_VOWELS[vowels[int(rng.integers(len(vowels)))]]) * scale
        y, zi = signal.sosfilt(formant_sos(formants, widths), sources[a:b], zi=zi)
        out[a:b] = y
    return out


def render_voice(rng: np.random.Generator, song: Song, attrs: ClipAttributes, n: int) -> np.ndarray:
    """A sung line (female or male lead) or a choir of detuned voices holding chord tones."""
    female = attrs.voice == "female"
    if attrs.voice == "choir":
        upper = accompaniment(rng, song, _CHOIR_BASE, "block", n_voices=3)
        lower = Line(
            upper[0].onsets, upper[0].durations, upper[0].pitches - OCTAVE, upper[0].velocities
        )
        source = np.zeros(n, dtype=np.float32)
        for line in [*upper, lower]:
            detuned = Line(
                line.onsets + rng.uniform(0, _CHOIR_ENTRY_SPREAD),
                line.durations,
                line.pitches + rng.normal(0, _CHOIR_DETUNE),
                line.velocities,
            )
            timbre = Timbre(
                bright=1.0 / harmonics(N_PARTIALS),
                attack=rng.uniform(0.15, 0.3),
                decay=0.05,
                release=0.3,
                vibrato_rate=rng.uniform(4.5, 6.0),
                vibrato_depth=rng.uniform(0.008, 0.015),
            )
            source += render_track(detuned, timbre, rng, n)
        boundaries = np.round(upper[0].onsets * SAMPLE_RATE).astype(np.int64)
        return _sing(rng, source, boundaries, female=True)
    pitch_range = _FEMALE_RANGE if female else _MALE_RANGE
    # notes per beat: fewer when the song is fast
    density = float(np.clip(1.3 - attrs.bpm / 200, *_SUNG_DENSITY_RANGE))
    line = melody(rng, song, pitch_range, density, legato=_SUNG_LEGATO)
    keep = np.ones(len(line.onsets), dtype=bool)
    t_bar = BEATS_PER_BAR * song.beat
    t = 0.0
    while t < n / SAMPLE_RATE:  # the clip's seconds
        t += rng.integers(*_PHRASE_BARS) * t_bar
        rest = rng.integers(*_BREATH_HALF_BARS) * t_bar * 0.5
        keep &= ~((line.onsets >= t) & (line.onsets < t + rest))
        t += rest
    line = Line(line.onsets[keep], line.durations[keep], line.pitches[keep], line.velocities[keep])
    timbre = Timbre(
        bright=1.0 / harmonics(N_PARTIALS),
        attack=0.03,
        decay=0.3,
        release=0.08,
        vibrato_rate=rng.uniform(5.0, 6.5),
        vibrato_depth=rng.uniform(0.01, 0.02),
    )
    source = render_track(line, timbre, rng, n)
    source += (
        _ASPIRATION_LEVEL
        * rng.standard_normal(n).astype(np.float32)
        * (np.abs(source) > _ASPIRATION_GATE)
    )
    boundaries = np.round(line.onsets * SAMPLE_RATE).astype(np.int64)
    return _sing(rng, source, boundaries, female)
