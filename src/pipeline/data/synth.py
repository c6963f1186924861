"""The embedded default dataset (``dataset: synth``): synthetic music in MagnaTagATune's layout.

The pipeline needs data it can produce by itself, offline and in seconds, on which every stage
(decoding, splitting by part, picking the K most frequent tags, training, AUC evaluation)
behaves as it does on MagnaTagATune. So this module synthesises short pieces of music from
latent attributes (a style, one to three instruments, maybe drums, bass and a voice, a pitch
register, a tempo, a loudness, a noise bed), derives each clip's true tags from those
attributes, and writes everything exactly as MTAT lies on disk: sixteen part folders of
29.1 s, 16 kHz mono mp3 files and a tab-separated, all-quoted, CRLF ``annotations_final.csv``.

Every clip depends only on ``(seed, clip index)``, so the dataset is the same byte for byte
whatever the number of worker processes. Tags are noisy as MTAT's are: an annotator misses a
true tag with probability ``label_noise`` and adds a spurious one at a tenth of that rate.
"""

from __future__ import annotations

import ctypes
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from pipeline.constants import ANNOTATIONS_FILE, MTAT_PARTS, SAMPLE_RATE
from pipeline.data.annotations import write_annotations

SYNTH_VERSION = 1
"""Bumped whenever the generator's output changes, so a cached dataset is regenerated."""

CLIP_SECONDS = 29.1
"""MTAT clips are 29.1 s long (465,600 samples at 16 kHz)."""

CLIP_SAMPLES = round(CLIP_SECONDS * SAMPLE_RATE)

SETTINGS_FILE = "synth.json"
"""Written beside the annotations: the settings they were generated with (the cache key)."""

SYNTH_TAGS: tuple[str, ...] = (
    "guitar",
    "piano",
    "strings",
    "violin",
    "flute",
    "harpsichord",
    "synth",
    "bass",
    "drums",
    "beat",
    "vocal",
    "female vocal",
    "male vocal",
    "choir",
    "no vocals",
    "low",
    "high",
    "fast",
    "slow",
    "loud",
    "quiet",
    "noise",
    "solo",
    "ambient",
    "techno",
    "classical",
    "rock",
    "metal",
    "pop",
    "electronic",
)
"""The synthetic dataset's tags, in the annotation file's column order (grouped by meaning:
instruments, voice, register, tempo, dynamics, texture, genre), MTAT-like in name."""

STYLES = ("classical", "rock", "techno", "ambient", "pop", "acoustic")
"""Latent styles; all but ``acoustic`` (a folk-like style) are also tags."""

INSTRUMENTS = ("piano", "strings", "violin", "flute", "harpsichord", "guitar", "synth")
"""Melodic instruments (bass, drums and voices are separate attributes)."""

_STYLE_PROBS = (0.26, 0.15, 0.14, 0.11, 0.20, 0.14)

# Per style: the chance of each melodic instrument being drawn (1-3 are kept, weighted by these).
_INSTRUMENT_WEIGHTS: dict[str, dict[str, float]] = {
    "classical": {
        "piano": 0.40,
        "strings": 0.55,
        "violin": 0.25,
        "flute": 0.30,
        "harpsichord": 0.22,
    },
    "rock": {"guitar": 1.0, "piano": 0.12, "synth": 0.08},
    "techno": {"synth": 1.0, "piano": 0.05},
    "ambient": {"synth": 0.75, "strings": 0.30, "piano": 0.30, "flute": 0.15},
    "pop": {"piano": 0.40, "guitar": 0.40, "synth": 0.35, "strings": 0.15},
    "acoustic": {"guitar": 0.85, "flute": 0.25, "violin": 0.20, "piano": 0.20},
}
# The instrument every clip of a style starts from (so e.g. every rock clip has a guitar).
_CORE_INSTRUMENT = {"rock": "guitar", "techno": "synth", "acoustic": "guitar"}
_N_INSTRUMENT_PROBS = {  # P(1), P(2), P(3) melodic instruments
    "classical": (0.45, 0.40, 0.15),
    "rock": (0.75, 0.20, 0.05),
    "techno": (0.80, 0.20, 0.00),
    "ambient": (0.45, 0.45, 0.10),
    "pop": (0.40, 0.45, 0.15),
    "acoustic": (0.55, 0.35, 0.10),
}
_P_DRUMS = {
    "classical": 0.0,
    "rock": 1.0,
    "techno": 1.0,
    "ambient": 0.0,
    "pop": 0.85,
    "acoustic": 0.2,
}
_P_BASS = {
    "classical": 0.0,
    "rock": 0.9,
    "techno": 0.85,
    "ambient": 0.15,
    "pop": 0.8,
    "acoustic": 0.3,
}
# Chance of a voice and how it is split between female lead, male lead and choir.
_VOICE = {
    "classical": (0.22, (0.35, 0.0, 0.65)),
    "rock": (0.65, (0.30, 0.70, 0.0)),
    "techno": (0.12, (0.9, 0.1, 0.0)),
    "ambient": (0.18, (0.55, 0.0, 0.45)),
    "pop": (0.80, (0.60, 0.40, 0.0)),
    "acoustic": (0.60, (0.45, 0.55, 0.0)),
}
_BPM_RANGE = {
    "classical": (50, 130),
    "rock": (95, 175),
    "techno": (120, 150),
    "ambient": (48, 84),
    "pop": (80, 135),
    "acoustic": (66, 132),
}
# Chance of the loud and quiet dynamics classes.
_DYNAMICS = {
    "classical": (0.04, 0.30),
    "rock": (0.50, 0.0),
    "techno": (0.35, 0.02),
    "ambient": (0.0, 0.60),
    "pop": (0.18, 0.06),
    "acoustic": (0.04, 0.22),
}
_P_NOISE = {
    "classical": 0.04,
    "rock": 0.06,
    "techno": 0.03,
    "ambient": 0.22,
    "pop": 0.04,
    "acoustic": 0.07,
}
_P_LOW = 0.10
_P_HIGH = 0.10
FAST_BPM = 132.0
"""Clips at or above this tempo are tagged ``fast``."""
SLOW_BPM = 82.0
"""Clips at or below this tempo are tagged ``slow``."""


@dataclass(frozen=True)
class ClipAttributes:
    """The latent description of one clip, from which its audio is rendered and its tags follow.

    Exposed so tests and experiments can render clips with controlled attributes
    (``dataclasses.replace(sample_attributes(rng), register="low")``).
    """

    style: str
    instruments: tuple[str, ...]
    drums: str | None = None
    """Drum pattern: ``four`` (four on the floor), ``rock``, ``metal``, ``sparse`` or None."""
    bass: bool = False
    voice: str | None = None
    """``female``, ``male``, ``choir`` or None."""
    register: str = "mid"
    """``low``, ``mid`` or ``high``: where the melodic instruments play."""
    bpm: float = 100.0
    dynamics: str = "normal"
    """``loud``, ``normal`` or ``quiet``."""
    noise: bool = False
    metal: bool = False
    reverb: float = 0.0
    """Wet share of a diffuse reverb (smears notes over time), 0 for a dry mix."""


def _choice(rng: np.random.Generator, options: Sequence[str], probs: Sequence[float]) -> str:
    p = np.asarray(probs, dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def sample_attributes(rng: np.random.Generator) -> ClipAttributes:
    """Draw a clip's latent attributes; styles make tags co-occur as in real music."""
    style = _choice(rng, STYLES, _STYLE_PROBS)
    weights = _INSTRUMENT_WEIGHTS[style]
    n_instruments = 1 + int(rng.choice(3, p=_N_INSTRUMENT_PROBS[style]))
    names = list(weights)
    w = np.array([weights[n] for n in names])
    instruments: list[str] = []
    core = _CORE_INSTRUMENT.get(style)
    if core is not None:
        instruments.append(core)
    while len(instruments) < min(n_instruments, len(names)):
        w_left = np.array([0.0 if n in instruments else x for n, x in zip(names, w, strict=True)])
        instruments.append(names[int(rng.choice(len(names), p=w_left / w_left.sum()))])
    if style == "ambient" and "synth" not in instruments and "strings" not in instruments:
        instruments.append("synth")  # ambient always has a pad
    metal = style == "rock" and rng.random() < 0.3
    drums = None
    if rng.random() < _P_DRUMS[style]:
        if style == "techno":
            drums = "four"
        elif metal:
            drums = "metal"
        elif style == "acoustic":
            drums = "sparse"
        elif style == "pop":
            drums = _choice(rng, ("rock", "four", "sparse"), (0.55, 0.3, 0.15))
        else:
            drums = "rock"
    bass = bool(rng.random() < _P_BASS[style])
    p_voice, voice_split = _VOICE[style]
    voice = (
        _choice(rng, ("female", "male", "choir"), voice_split) if rng.random() < p_voice else None
    )
    u = rng.random()
    register = "low" if u < _P_LOW else "high" if u < _P_LOW + _P_HIGH else "mid"
    lo, hi = _BPM_RANGE[style]
    bpm = float(rng.uniform(lo, hi))
    if metal:
        bpm = float(rng.uniform(140, 185))
    p_loud, p_quiet = _DYNAMICS[style]
    if metal:
        p_loud = 0.8
    u = rng.random()
    dynamics = "loud" if u < p_loud else "quiet" if u < p_loud + p_quiet else "normal"
    noise = bool(rng.random() < _P_NOISE[style])
    reverb = 0.0
    if style in ("classical", "ambient") or voice == "choir":
        reverb = float(rng.uniform(0.25, 0.5))
    elif rng.random() < 0.3:
        reverb = float(rng.uniform(0.08, 0.25))
    return ClipAttributes(
        style=style,
        instruments=tuple(instruments),
        drums=drums,
        bass=bass,
        voice=voice,
        register=register,
        bpm=bpm,
        dynamics=dynamics,
        noise=noise,
        metal=metal,
        reverb=reverb,
    )


def clip_tags(attrs: ClipAttributes) -> set[str]:
    """The true tags of a clip: a deterministic function of its attributes."""
    tags = set(attrs.instruments)
    if "violin" in tags:
        tags.add("strings")
    if attrs.bass:
        tags.add("bass")
    if attrs.drums is not None:
        tags.add("drums")
        if attrs.drums != "sparse":
            tags.add("beat")
    if attrs.voice is None:
        tags.add("no vocals")
    else:
        tags.add("vocal")
        tags.add({"female": "female vocal", "male": "male vocal", "choir": "choir"}[attrs.voice])
    if attrs.register in ("low", "high"):
        tags.add(attrs.register)
    if attrs.bpm >= FAST_BPM:
        tags.add("fast")
    elif attrs.bpm <= SLOW_BPM:
        tags.add("slow")
    if attrs.dynamics in ("loud", "quiet"):
        tags.add(attrs.dynamics)
    if attrs.noise:
        tags.add("noise")
    if (
        len(attrs.instruments) == 1
        and attrs.drums is None
        and not attrs.bass
        and attrs.voice is None
    ):
        tags.add("solo")
    if attrs.style in ("ambient", "techno", "classical", "rock", "pop"):
        tags.add(attrs.style)
    if attrs.metal:
        tags.add("metal")
    if attrs.style == "techno" or (
        "synth" in attrs.instruments and attrs.style in ("ambient", "pop")
    ):
        tags.add("electronic")
    unknown = tags - set(SYNTH_TAGS)
    assert not unknown, unknown
    return tags


# ----------------------------------------------------------------------------------------------
# Synthesis primitives
# ----------------------------------------------------------------------------------------------

_TABLE_BITS = 12
_TABLE_SIZE = 1 << _TABLE_BITS
_TABLE_MASK = _TABLE_SIZE - 1
_NYQUIST_GUARD = 7200.0  # partials above this are left out of wavetables (no aliasing)
_FADE = 48  # samples of fade-out when a note is cut by the next one on its track


def _midi_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _wavetable(amps: np.ndarray, f_max: float) -> np.ndarray:
    """One period of a sum of sine partials ``amps[k-1] * sin(k x)``, band-limited for ``f_max``."""
    amps = np.asarray(amps, dtype=np.float64)
    k_max = max(1, int(_NYQUIST_GUARD // max(f_max, 1.0)))
    amps = amps[:k_max]
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[1 : len(amps) + 1] = -0.5j * _TABLE_SIZE * amps
    table = np.fft.irfft(spectrum, n=_TABLE_SIZE)
    peak = np.abs(table).max()
    return (table / peak if peak > 0 else table).astype(np.float32)


@dataclass(frozen=True)
class _Timbre:
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


def _harmonics(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float64)


def _timbre(name: str, rng: np.random.Generator, pad: bool = False) -> _Timbre:
    """The timbre of ``name``, with small random variations so no two clips sound identical."""
    k = _harmonics(60)
    jitter = 1.0 + 0.15 * rng.standard_normal(60)
    if name == "piano":
        return _Timbre(
            bright=k ** -rng.uniform(0.9, 1.2) * np.abs(jitter),
            dull=k**-2.8,
            bright_decay=rng.uniform(3.0, 6.0),
            attack=0.003,
            decay=rng.uniform(1.0, 1.8),
            release=0.12,
            tracks=2,
        )
    if name == "harpsichord":
        pluck = np.abs(np.sin(np.pi * k * rng.uniform(0.08, 0.14)))
        return _Timbre(
            bright=k**-0.35 * pluck,
            dull=k**-1.2 * pluck,
            bright_decay=rng.uniform(4.0, 7.0),
            attack=0.001,
            decay=rng.uniform(2.5, 3.5),
            release=0.08,
            tracks=2,
        )
    if name == "guitar":
        pluck = np.abs(np.sin(np.pi * k * rng.uniform(0.15, 0.25)))
        return _Timbre(
            bright=k**-0.9 * pluck + 1e-3,
            dull=k**-2.4,
            bright_decay=rng.uniform(5.0, 9.0),
            attack=0.002,
            decay=rng.uniform(1.8, 2.8),
            release=0.08,
            tracks=2,
        )
    if name == "distorted_guitar":  # sustained; render_clip drives it through tanh
        return _Timbre(bright=k**-1.0, attack=0.004, decay=0.4, release=0.05, tracks=1)
    if name == "strings":
        return _Timbre(
            bright=k**-1.15 * np.abs(jitter),
            attack=rng.uniform(0.15, 0.35),
            decay=0.05,
            release=rng.uniform(0.2, 0.4),
            vibrato_rate=rng.uniform(5.0, 6.0),
            vibrato_depth=rng.uniform(0.003, 0.006),
        )
    if name == "violin":
        body = 1.0 + 2.0 * np.exp(-(((k - 10) / 5.0) ** 2))
        return _Timbre(
            bright=k**-1.0 * body * np.abs(jitter),
            attack=rng.uniform(0.05, 0.09),
            decay=0.1,
            release=0.15,
            vibrato_rate=rng.uniform(5.5, 6.8),
            vibrato_depth=rng.uniform(0.005, 0.009),
        )
    if name == "flute":
        amps = np.zeros(60)
        amps[:5] = [1.0, rng.uniform(0.15, 0.4), rng.uniform(0.05, 0.15), 0.04, 0.02]
        return _Timbre(
            bright=amps,
            attack=rng.uniform(0.04, 0.08),
            decay=0.15,
            release=0.1,
            vibrato_rate=rng.uniform(4.5, 5.5),
            vibrato_depth=rng.uniform(0.002, 0.005),
        )
    if name == "synth":
        square = rng.random() < 0.5
        base = np.where(k % 2 == 1, 1.0 / k, 0.0) if square else 1.0 / k
        if pad:
            return _Timbre(
                bright=base * k ** -rng.uniform(0.8, 1.5),
                attack=rng.uniform(0.4, 1.2),
                decay=0.0,
                release=rng.uniform(0.6, 1.2),
                vibrato_rate=rng.uniform(0.2, 0.6),
                vibrato_depth=0.002,
            )
        return _Timbre(
            bright=base,
            dull=base * k**-1.8,
            bright_decay=rng.uniform(6.0, 14.0),
            attack=0.004,
            decay=rng.uniform(0.5, 3.0),
            release=0.05,
            tracks=2,
        )
    if name == "bass":
        amps = np.zeros(60)
        amps[:6] = [1.0, 0.6, 0.35, 0.2, 0.1, 0.05]
        return _Timbre(bright=amps, attack=0.006, decay=rng.uniform(0.5, 2.0), release=0.06)
    raise ValueError(f"unknown instrument {name!r}")


@dataclass
class _Line:
    """A monophonic sequence of notes (seconds, MIDI pitch, velocity)."""

    onsets: np.ndarray
    durations: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray

    @staticmethod
    def from_lists(notes: list[tuple[float, float, float, float]]) -> _Line:
        arr = np.array(notes, dtype=np.float64).reshape(-1, 4)
        order = np.argsort(arr[:, 0], kind="stable")
        arr = arr[order]
        return _Line(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


_TIME = np.arange(CLIP_SAMPLES + SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE


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
        t = _TIME[:length]
        e = np.minimum(t * np.float32(1.0 / attack), 1.0)
        if rate > 0:
            e *= np.exp(np.float32(-rate) * t)
        if dur < length:
            e[dur:] *= np.exp(t[: length - dur] * np.float32(-1.0 / release))
        fade = min(_FADE, length)
        e[length - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        env[start:end] = e * np.float32(vel)
    return env


_PHASE_BITS = 32
"""Oscillators keep their phase as a fixed-point integer (cycles * 2**32): exact and fast."""


def _render_track(line: _Line, timbre: _Timbre, rng: np.random.Generator, n: int) -> np.ndarray:
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
    tail = int(4 * timbre.release * SAMPLE_RATE)
    nxt = np.append(starts[1:], n)
    ends = np.minimum(np.minimum(nxt, starts + durs + tail), n)
    first, last = int(starts[0]), int(ends.max())
    m = last - first
    local = starts - first
    freqs = _midi_hz(line.pitches[keep])
    increments = np.round(freqs / SAMPLE_RATE * 2.0**_PHASE_BITS).astype(np.int64)
    inc = np.repeat(increments, np.diff(np.append(local, m)))
    if timbre.vibrato_rate > 0:
        t = _TIME[first:last]
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
            1e-4,
            1.0,
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


def _render_lines(
    lines: list[_Line], timbre: _Timbre, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Render lines, spreading each line's notes over ``timbre.tracks`` tracks so tails ring on."""
    out = np.zeros(n, dtype=np.float32)
    # Decaying (struck, plucked) notes are held until their track's next note, like a sustain
    # pedal; sustained instruments keep their written lengths.
    ring = timbre.tracks if timbre.decay > 0.8 else 1
    for line in lines:
        for j in range(timbre.tracks):
            sub = _Line(
                line.onsets[j :: timbre.tracks],
                line.durations[j :: timbre.tracks] * ring,
                line.pitches[j :: timbre.tracks],
                line.velocities[j :: timbre.tracks],
            )
            out += _render_track(sub, timbre, rng, n)
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) + 1e-12


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / _rms(x)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Composition: harmony, melody, accompaniment
# ----------------------------------------------------------------------------------------------

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_PROGRESSIONS = (
    (0, 5, 3, 4),
    (0, 3, 4, 0),
    (5, 3, 0, 4),
    (0, 4, 5, 3),
    (0, 3, 0, 4),
    (0, 5, 1, 4),
    (0, 6, 5, 4),
    (0, 2, 3, 4),
)


@dataclass
class _Song:
    """The shared musical frame of a clip: tempo grid, key, scale and chord progression."""

    beat: float  # seconds per beat
    offset: float  # time of the first beat
    n_beats: int
    tonic: int  # pitch class of the key (0 = C)
    scale: np.ndarray
    chords: list[int]  # scale degree of the chord root, per bar
    bars_per_chord: int

    def chord_at(self, beat_index: float) -> int:
        bar = int(beat_index // 4)
        return self.chords[(bar // self.bars_per_chord) % len(self.chords)]

    def degree_pitch(self, degree: int, octave_base: int) -> int:
        """MIDI pitch of a scale degree (any integer, wraps octaves) above ``octave_base``."""
        octave, step = divmod(degree, 7)
        return octave_base + 12 * octave + self.tonic + int(self.scale[step])

    def time(self, beat_index: float) -> float:
        return self.offset + beat_index * self.beat


def _make_song(rng: np.random.Generator, attrs: ClipAttributes) -> _Song:
    beat = 60.0 / attrs.bpm
    minor = rng.random() < (0.7 if attrs.style in ("techno", "ambient") or attrs.metal else 0.4)
    slow_harmony = attrs.bpm > 110 or attrs.style == "ambient"
    return _Song(
        beat=beat,
        offset=float(rng.uniform(0.0, beat)),
        n_beats=int(CLIP_SECONDS / beat) + 2,
        tonic=int(rng.integers(0, 12)),
        scale=_MINOR if minor else _MAJOR,
        chords=list(_PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]),
        bars_per_chord=2 if slow_harmony and rng.random() < 0.7 else 1,
    )


def _rhythm(rng: np.random.Generator, n_beats: int, density: float) -> list[tuple[float, float]]:
    """Note (start, length) in beats: a mix of whole to sixteenth notes and rests by density."""
    # density ~ notes per beat; weights over [whole, half, quarter, eighths, sixteenths, rest]
    d = float(np.clip(density, 0.2, 3.0))
    w = np.array(
        [max(0.0, 0.6 - d), max(0.0, 1.0 - 0.6 * d), 1.0, d, max(0.0, d - 1.0) * 0.8, 0.25]
    )
    w /= w.sum()
    notes: list[tuple[float, float]] = []
    b = 0.0
    while b < n_beats:
        kind = int(rng.choice(6, p=w))
        if kind == 0 and b % 4 == 0:
            notes.append((b, 4.0))
            b += 4
        elif kind in (0, 1) and b % 2 == 0:
            notes.append((b, 2.0))
            b += 2
        elif kind == 3:
            notes += [(b, 0.5), (b + 0.5, 0.5)]
            b += 1
        elif kind == 4:
            notes += [(b + i * 0.25, 0.25) for i in range(4)]
            b += 1
        elif kind == 5:
            b += 1
        else:
            notes.append((b, 1.0))
            b += 1
    return notes


def _melody(
    rng: np.random.Generator,
    song: _Song,
    pitch_range: tuple[int, int],
    density: float,
    legato: float = 0.95,
) -> _Line:
    """A random-walk melody over the scale, leaning on chord tones at chord changes.

    Pitches are folded by octaves into ``pitch_range`` (MIDI, inclusive).
    """
    lo, hi = pitch_range
    base = lo - song.tonic
    notes = []
    degree = int(rng.integers(2, 9))
    for start, length in _rhythm(rng, song.n_beats, density):
        step = int(rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3]))
        degree += step
        if start % 4 == 0:  # snap to the nearest chord tone on the downbeat
            root = song.chord_at(start)
            tones = np.array([root + 7 * o + t for o in range(-1, 3) for t in (0, 2, 4)])
            degree = int(tones[np.argmin(np.abs(tones - degree))])
        if degree < 0 or degree > 13:
            degree = int(np.clip(degree, 0, 13)) - int(np.sign(degree - 6)) * 2
        pitch = song.degree_pitch(degree, base)
        while pitch > hi:
            pitch -= 12
        while pitch < lo:
            pitch += 12
        velocity = rng.uniform(0.6, 1.0) * (1.1 if start % 2 == 0 else 1.0)
        notes.append((song.time(start), length * song.beat * legato, pitch, velocity))
    return _Line.from_lists(notes)


def _chord_pitches(song: _Song, beat_index: float, base: int, n: int = 3) -> list[int]:
    root = song.chord_at(beat_index)
    return [song.degree_pitch(root + 2 * i, base) for i in range(n)]


def _accompaniment(
    rng: np.random.Generator, song: _Song, base: int, mode: str, n_voices: int = 3
) -> list[_Line]:
    """Chordal parts: held ``block`` or re-struck ``comp`` chords, ``arpeggio`` or ``strum``."""
    lines: list[list[tuple[float, float, float, float]]] = [[] for _ in range(n_voices)]
    if mode == "arpeggio":
        step = 0.5 if song.beat > 0.45 else 1.0
        if rng.random() < 0.5 and song.beat > 0.5:
            step = 0.25
        pattern = [0, 1, 2, 1] if rng.random() < 0.5 else [0, 1, 2, 3, 2, 1]
        b, i = 0.0, 0
        arp: list[tuple[float, float, float, float]] = []
        while b < song.n_beats:
            tones = _chord_pitches(song, b, base, 4)
            arp.append(
                (
                    song.time(b),
                    step * song.beat,
                    tones[pattern[i % len(pattern)]],
                    rng.uniform(0.6, 0.9),
                )
            )
            b += step
            i += 1
        return [_Line.from_lists(arp)]
    if mode == "block":
        hold = 4 * song.bars_per_chord if rng.random() < 0.6 else 4
        starts = np.arange(0, song.n_beats, hold, dtype=float)
        for b in starts:
            for v, p in enumerate(_chord_pitches(song, b, base, n_voices)):
                lines[v].append((song.time(b), hold * song.beat * 0.98, p, rng.uniform(0.7, 0.9)))
    else:  # comp / strum: rhythmic re-striking
        patterns = ([0, 2], [0, 1, 2, 3], [0, 1.5, 2, 3], [0, 0.5, 1.5, 2, 3, 3.5], [0, 2.5])
        pattern = patterns[int(rng.integers(len(patterns)))]
        for bar in range(0, song.n_beats, 4):
            for off in pattern:
                b = bar + off
                spread = 0.012 if mode == "strum" else 0.0
                for v, p in enumerate(_chord_pitches(song, b, base, n_voices)):
                    lines[v].append(
                        (song.time(b) + v * spread, song.beat * 0.9, p, rng.uniform(0.5, 0.9))
                    )
    return [_Line.from_lists(notes) for notes in lines if notes]


def _bass_line(rng: np.random.Generator, song: _Song, attrs: ClipAttributes) -> _Line:
    base = 24 if attrs.register == "low" else 36
    notes = []
    if attrs.drums == "four":
        offs, length = [0.5, 1.5, 2.5, 3.5], 0.4
    elif attrs.style == "rock":
        offs, length = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5], 0.45
    elif attrs.bpm < 90:
        offs, length = [0, 2], 1.9
    else:
        offs, length = [0, 1, 2, 3], 0.9
    for bar in range(0, song.n_beats, 4):
        for off in offs:
            b = bar + off
            octave = 12 if (attrs.style == "pop" and off == 2 and rng.random() < 0.4) else 0
            notes.append(
                (
                    song.time(b),
                    length * song.beat,
                    song.degree_pitch(song.chord_at(b), base) + octave,
                    rng.uniform(0.75, 1.0),
                )
            )
    return _Line.from_lists(notes)


# ----------------------------------------------------------------------------------------------
# Drums, voices, effects
# ----------------------------------------------------------------------------------------------


def _drum_kit(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot samples: a sine-sweep kick, a noise snare, closed and open hi-hats."""
    t = _TIME[: int(0.4 * SAMPLE_RATE)].astype(np.float64)
    f = rng.uniform(40, 55) + rng.uniform(80, 140) * np.exp(-t * rng.uniform(25, 45))
    kick = np.sin(2 * np.pi * np.cumsum(f) / SAMPLE_RATE) * np.exp(-t * rng.uniform(7, 12))
    kick[:40] += rng.standard_normal(40) * np.linspace(0.6, 0, 40)
    ts = t[: int(0.25 * SAMPLE_RATE)]
    band = signal.butter(
        2, [rng.uniform(900, 1500), 6000], "bandpass", fs=SAMPLE_RATE, output="sos"
    )
    snare = signal.sosfilt(band, rng.standard_normal(len(ts))) * np.exp(-ts * rng.uniform(18, 28))
    snare += 0.5 * np.sin(2 * np.pi * rng.uniform(170, 220) * ts) * np.exp(-ts * 25)
    high = signal.butter(4, rng.uniform(5000, 6500), "highpass", fs=SAMPLE_RATE, output="sos")
    th = t[: int(0.3 * SAMPLE_RATE)]
    hiss = signal.sosfilt(high, rng.standard_normal(len(th)))
    hat = hiss * np.exp(-th * rng.uniform(45, 70))
    open_hat = hiss * np.exp(-th * rng.uniform(9, 14))
    kit = {"kick": kick, "snare": snare, "hat": hat, "open": open_hat}
    return {k: (v / np.abs(v).max()).astype(np.float32) for k, v in kit.items()}


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
_DRUM_LEVEL = {"kick": 1.0, "snare": 0.8, "hat": 0.35, "open": 0.3}


def _render_drums(rng: np.random.Generator, song: _Song, pattern: str, n: int) -> np.ndarray:
    kit = _drum_kit(rng)
    kick, snare, hat, open_hat = _DRUM_PATTERNS[pattern]
    hits = {"kick": list(kick), "snare": list(snare), "hat": list(hat), "open": list(open_hat)}
    if pattern == "four" and rng.random() < 0.4:
        hits["snare"] = []  # some techno has no clap
    if pattern == "rock" and rng.random() < 0.5:
        hits["kick"] = [0, 6, 8]
    out = np.zeros(n + SAMPLE_RATE, dtype=np.float32)
    sixteenth = song.beat / 4
    n_bars = song.n_beats // 4 + 1
    for name, steps in hits.items():
        sample = kit[name]
        for bar in range(n_bars):
            fill = pattern != "four" and bar % 4 == 3
            bar_steps = steps
            if name == "snare" and fill:
                bar_steps = sorted(set(steps) | {12, 13, 14, 15})
            for s in bar_steps:
                start = int(round((song.offset + (bar * 16 + s) * sixteenth) * SAMPLE_RATE))
                start += int(rng.integers(-40, 41)) if pattern != "four" else 0
                if start < 0 or start >= n:
                    continue
                vel = _DRUM_LEVEL[name] * rng.uniform(0.8, 1.0) * (1.0 if s % 4 == 0 else 0.8)
                out[start : start + len(sample)] += vel * sample[: len(out) - start]
    return out[:n]


_VOWELS = {  # male formants (F1, F2, F3) in Hz; female ones are scaled up
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2200, 3000),
    "o": (570, 840, 2410),
    "u": (320, 870, 2240),
}


def _formant_sos(formants: Sequence[float], bandwidths: Sequence[float]) -> np.ndarray:
    """Klatt cascade of two-pole resonators (unit gain at DC), as second-order sections."""
    sos = []
    for f, bw in zip(formants, bandwidths, strict=True):
        c = -np.exp(-2 * np.pi * bw / SAMPLE_RATE)
        b = 2 * np.exp(-np.pi * bw / SAMPLE_RATE) * np.cos(2 * np.pi * f / SAMPLE_RATE)
        a = 1 - b - c
        sos.append([a, 0.0, 0.0, 1.0, -b, -c])
    return np.array(sos)


def _sing(
    rng: np.random.Generator,
    sources: np.ndarray,
    boundaries: np.ndarray,
    female: bool,
) -> np.ndarray:
    """Filter a glottal-like source through vowel formants that change at each syllable."""
    scale = rng.uniform(1.12, 1.22) if female else rng.uniform(0.95, 1.05)
    widths = np.array([90.0, 110.0, 160.0]) * (1.3 if female else 1.0)
    out = np.empty_like(sources)
    zi = np.zeros((3, 2))
    edges = np.concatenate(
        [[0], boundaries[(boundaries > 0) & (boundaries < len(sources))], [len(sources)]]
    ).astype(np.int64)
    vowels = list(_VOWELS)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        formants = np.array(_VOWELS[vowels[int(rng.integers(len(vowels)))]]) * scale
        y, zi = signal.sosfilt(_formant_sos(formants, widths), sources[a:b], zi=zi)
        out[a:b] = y
    return out


def _render_voice(
    rng: np.random.Generator, song: _Song, attrs: ClipAttributes, n: int
) -> np.ndarray:
    """A sung line (female or male lead) or a choir of detuned voices holding chord tones."""
    female = attrs.voice == "female"
    if attrs.voice == "choir":
        upper = _accompaniment(rng, song, 53, "block", n_voices=3)
        lower = _Line(
            upper[0].onsets, upper[0].durations, upper[0].pitches - 12, upper[0].velocities
        )
        source = np.zeros(n, dtype=np.float32)
        for line in [*upper, lower]:
            detuned = _Line(
                line.onsets + rng.uniform(0, 0.05),
                line.durations,
                line.pitches + rng.normal(0, 0.08),
                line.velocities,
            )
            timbre = _Timbre(
                bright=1.0 / _harmonics(60),
                attack=rng.uniform(0.15, 0.3),
                decay=0.05,
                release=0.3,
                vibrato_rate=rng.uniform(4.5, 6.0),
                vibrato_depth=rng.uniform(0.008, 0.015),
            )
            source += _render_track(detuned, timbre, rng, n)
        boundaries = np.round(upper[0].onsets * SAMPLE_RATE).astype(np.int64)
        return _sing(rng, source, boundaries, female=True)
    pitch_range = (55, 79) if female else (43, 64)
    density = float(np.clip(1.3 - attrs.bpm / 200, 0.5, 1.1))
    line = _melody(rng, song, pitch_range, density, legato=0.9)
    # phrases: sing for 2-4 bars, breathe for half a bar or a bar
    keep = np.ones(len(line.onsets), dtype=bool)
    t_bar = 4 * song.beat
    t = 0.0
    while t < CLIP_SECONDS:
        t += rng.integers(2, 5) * t_bar
        rest = rng.integers(1, 3) * t_bar * 0.5
        keep &= ~((line.onsets >= t) & (line.onsets < t + rest))
        t += rest
    line = _Line(line.onsets[keep], line.durations[keep], line.pitches[keep], line.velocities[keep])
    timbre = _Timbre(
        bright=1.0 / _harmonics(60),
        attack=0.03,
        decay=0.3,
        release=0.08,
        vibrato_rate=rng.uniform(5.0, 6.5),
        vibrato_depth=rng.uniform(0.01, 0.02),
    )
    source = _render_track(line, timbre, rng, n)
    source += 0.02 * rng.standard_normal(n).astype(np.float32) * (np.abs(source) > 0.01)
    boundaries = np.round(line.onsets * SAMPLE_RATE).astype(np.int64)
    return _sing(rng, source, boundaries, female)


def _reverb(rng: np.random.Generator, x: np.ndarray, wet: float) -> np.ndarray:
    """A diffuse tail (exponentially decaying noise) that smears notes into each other."""
    rt60 = rng.uniform(1.0, 2.5)
    t = _TIME[: int(min(rt60, 1.5) * SAMPLE_RATE)]
    ir = rng.standard_normal(len(t)).astype(np.float32) * np.exp(t * np.float32(-6.9 / rt60))
    ir /= np.sqrt(np.sum(np.square(ir)))
    tail = signal.fftconvolve(x, ir)[: len(x)].astype(np.float32)
    return (1 - wet) * x + wet * tail * (_rms(x) / _rms(tail))


def _breath(rng: np.random.Generator, tone: np.ndarray) -> np.ndarray:
    """A flute's breath: band-passed noise following the tone's smoothed amplitude."""
    smooth = signal.butter(1, 30, "lowpass", fs=SAMPLE_RATE, output="sos")
    envelope = signal.sosfilt(smooth, np.abs(tone))
    band = signal.butter(2, [1500, 5000], "bandpass", fs=SAMPLE_RATE, output="sos")
    noise = signal.sosfilt(band, rng.standard_normal(len(tone)))
    return (rng.uniform(0.05, 0.12) * noise * envelope).astype(np.float32)


def _noise_bed(rng: np.random.Generator, n: int, strong: bool) -> np.ndarray:
    """Hiss and crackle (``noise``) or a faint, slowly breathing wind (ambient texture)."""
    white = rng.standard_normal(n).astype(np.float32)
    if strong:
        cutoff = rng.uniform(2000, 7000)
        sos = signal.butter(1, cutoff, "lowpass", fs=SAMPLE_RATE, output="sos")
        bed = signal.sosfilt(sos, white).astype(np.float32)
        clicks = np.zeros(n, dtype=np.float32)
        where = rng.integers(0, n, size=int(rng.uniform(20, 120) * CLIP_SECONDS))
        clicks[where] = rng.uniform(-1, 1, size=len(where)) * 8
        return _normalise(bed) + clicks
    sos = signal.butter(
        4,
        [rng.uniform(150, 300), rng.uniform(800, 1500)],
        "bandpass",
        fs=SAMPLE_RATE,
        output="sos",
    )
    swell = 1 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * _TIME[:n] + rng.uniform(0, 6))
    return _normalise(signal.sosfilt(sos, white).astype(np.float32) * swell)


# ----------------------------------------------------------------------------------------------
# A whole clip
# ----------------------------------------------------------------------------------------------

_MODES = {
    "piano": ("comp", "block", "arpeggio"),
    "strings": ("block",),
    "violin": ("block",),
    "flute": ("arpeggio",),
    "harpsichord": ("arpeggio", "comp"),
    "guitar": ("strum", "arpeggio"),
    "synth": ("arpeggio", "comp"),
}
_RMS_DB = {"loud": (-12.0, -9.0), "normal": (-24.0, -17.0), "quiet": (-40.0, -31.0)}
_PEAK = 0.8
"""Peak before encoding; mp3 decoding overshoots dense material by up to ~20%."""


_LEAD_RANGE = {"low": (36, 60), "mid": (52, 81), "high": (74, 96)}
"""MIDI range of a lead melody per register (flute and violin sit higher, see below)."""
_ACCOMPANIMENT_BASE = {"low": 34, "mid": 48, "high": 67}
"""MIDI pitch above which an accompaniment stacks its chords, per register."""


def _lead_range(name: str, register: str) -> tuple[int, int]:
    lo, hi = _LEAD_RANGE[register]
    if name in ("violin", "flute") and register == "mid":
        return lo + 8, hi + 7
    return lo, hi


def render_clip(rng: np.random.Generator, attrs: ClipAttributes) -> np.ndarray:
    """Render ``attrs`` to float32 audio (16 kHz, 29.1 s, peak below 1)."""
    n = CLIP_SAMPLES
    song = _make_song(rng, attrs)
    mix = np.zeros(n, dtype=np.float32)
    lead_taken = attrs.voice in ("female", "male")
    for i, name in enumerate(attrs.instruments):
        lead = not lead_taken and i == 0
        pad = name == "synth" and attrs.style == "ambient"
        base = _ACCOMPANIMENT_BASE[attrs.register]
        if name == "guitar" and attrs.style == "rock":
            timbre = _timbre("distorted_guitar", rng)
            power = _accompaniment(rng, song, base - 6, "comp", n_voices=1)
            lines = power + [
                _Line(ln.onsets, ln.durations, ln.pitches + 7, ln.velocities) for ln in power
            ]
            part = _render_lines(lines, timbre, rng, n)
            drive = rng.uniform(4, 8) * (2.0 if attrs.metal else 1.0)
            part = np.tanh(drive * part / (np.abs(part).max() + 1e-9))
            cab = signal.butter(2, rng.uniform(2500, 4500), "lowpass", fs=SAMPLE_RATE, output="sos")
            part = signal.sosfilt(cab, part).astype(np.float32)
            level = 1.0
        else:
            timbre = _timbre(name, rng, pad=pad)
            if pad:
                lines = _accompaniment(rng, song, base, "block", n_voices=3)
            elif lead:
                density = float(np.clip(rng.normal(1.6 - attrs.bpm / 150, 0.25), 0.3, 2.5))
                lines = [_melody(rng, song, _lead_range(name, attrs.register), density)]
            else:
                modes = _MODES[name]
                lines = _accompaniment(rng, song, base, modes[int(rng.integers(len(modes)))])
            part = _render_lines(lines, timbre, rng, n)
            if name == "flute":
                part += _breath(rng, part)
            level = 1.0 if lead else 0.6
        mix += level * rng.uniform(0.8, 1.2) * _normalise(part)
    if attrs.bass:
        mix += (
            0.7
            * rng.uniform(0.8, 1.2)
            * _normalise(
                _render_lines([_bass_line(rng, song, attrs)], _timbre("bass", rng), rng, n)
            )
        )
    if attrs.voice is not None:
        mix += 1.1 * rng.uniform(0.85, 1.15) * _normalise(_render_voice(rng, song, attrs, n))
    if attrs.drums is not None:
        level = 1.0 if attrs.drums in ("four", "metal", "rock") else 0.6
        mix += level * rng.uniform(0.8, 1.2) * _normalise(_render_drums(rng, song, attrs.drums, n))
    if attrs.reverb > 0:
        mix = _reverb(rng, mix, attrs.reverb)
    mix = _normalise(mix)
    if attrs.noise:
        mix += rng.uniform(0.3, 0.7) * _noise_bed(rng, n, strong=True)
    elif attrs.style == "ambient":
        mix += rng.uniform(0.01, 0.03) * _noise_bed(rng, n, strong=False)
    swell = 1.0 + rng.uniform(0.0, 0.25) * np.sin(
        2 * np.pi * _TIME[:n] / rng.uniform(8, 20) + rng.uniform(0, 2 * np.pi)
    )
    mix *= swell
    lo, hi = _RMS_DB[attrs.dynamics]
    target = 10 ** (rng.uniform(lo, hi) / 20)
    mix *= target / _rms(mix)
    peak = float(np.abs(mix).max())
    if peak > _PEAK:  # a limiter: loud clips are squashed, as loud masters are
        mix = _PEAK * np.tanh(mix / _PEAK)
    return np.clip(mix, -_PEAK, _PEAK).astype(np.float32)


def generate_clip(
    rng: np.random.Generator, attributes: ClipAttributes | None = None
) -> tuple[np.ndarray, set[str]]:
    """One clip (float32, 16 kHz, 29.1 s) and its true tags.

    The attributes are drawn from ``rng`` unless given, so callers can control them.
    """
    attrs = sample_attributes(rng) if attributes is None else attributes
    return render_clip(rng, attrs), clip_tags(attrs)


# ----------------------------------------------------------------------------------------------
# The dataset on disk
# ----------------------------------------------------------------------------------------------

_NAME_STREAM = 1
_LABEL_STREAM = 2
_WORDS = (
    "river",
    "night",
    "blue",
    "morning",
    "stone",
    "glass",
    "winter",
    "golden",
    "silent",
    "paper",
    "ocean",
    "ember",
    "velvet",
    "northern",
    "echo",
    "hollow",
    "bright",
    "lantern",
    "wild",
    "amber",
)
_NOUNS = (
    "song",
    "dance",
    "waltz",
    "theme",
    "lullaby",
    "march",
    "prelude",
    "groove",
    "ballad",
    "suite",
    "air",
    "hymn",
    "etude",
    "reel",
    "nocturne",
    "anthem",
)
_SEGMENT_STARTS = (0, 30, 59, 88, 117, 146, 175)
_MAX_DECODED_PEAK = 0.99


def clip_path(seed: int, index: int) -> str:
    """The MTAT-style relative path of clip ``index``: part folder round-robin, unique name."""
    rng = np.random.default_rng([seed, index, _NAME_STREAM])
    part = MTAT_PARTS[index % len(MTAT_PARTS)]
    artist = f"synth_artist_{index // 6:02d}"
    album = f"album_{(index // 3) % 2 + 1}"
    track = index % 3 + 1 + 3 * int(rng.integers(0, 3))
    title = f"{_WORDS[int(rng.integers(len(_WORDS)))]}_{_NOUNS[int(rng.integers(len(_NOUNS)))]}"
    start = _SEGMENT_STARTS[int(rng.integers(len(_SEGMENT_STARTS)))]
    return f"{part}/{artist}-{album}-{track:02d}-{title}-{start}-{start + 29}.mp3"


def noisy_labels(true_tags: set[str], seed: int, index: int, label_noise: float) -> np.ndarray:
    """Annotator noise: miss each true tag with ``label_noise``, add others at a tenth of it."""
    rng = np.random.default_rng([seed, index, _LABEL_STREAM])
    truth = np.array([t in true_tags for t in SYNTH_TAGS])
    u = rng.random(len(SYNTH_TAGS))
    labels = np.where(truth, u >= label_noise, u < label_noise / 10)
    return labels.astype(np.uint8)


def clip_true_tags(seed: int, index: int) -> set[str]:
    """The true tags of clip ``index``, without rendering it (attributes are drawn first)."""
    return clip_tags(sample_attributes(np.random.default_rng([seed, index])))


def _write_clip(job: tuple[int, int, str]) -> None:
    """Worker: render clip ``index`` and write it as mp3 under a temporary name, then rename.

    The mp3 is decoded once to check its peak: the codec's overshoot must not clip.
    """
    seed, index, path = job
    audio, _ = generate_clip(np.random.default_rng([seed, index]))
    target = Path(path)
    partial = target.with_name(f".{target.stem}.partial.mp3")
    for _ in range(4):
        sf.write(partial, audio, SAMPLE_RATE, format="MP3")
        peak = float(np.abs(sf.read(partial, dtype="float32")[0]).max())
        if peak < _MAX_DECODED_PEAK:
            break
        audio = audio * np.float32(0.95 * _MAX_DECODED_PEAK / peak)
    os.replace(partial, target)


def _tune_malloc() -> None:
    """Worker initialiser: keep freed clip-sized buffers in glibc's heap instead of unmapping them.

    Synthesis allocates many ~2 MB temporaries; by default each is a fresh mmap whose pages
    fault in again, which costs about as much as the synthesis itself. Pure speed: no effect
    on the output. A no-op where glibc's ``mallopt`` is unavailable.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _audio_key(seed: int) -> dict[str, object]:
    """What a clip's audio depends on (besides its index): equal keys mean reusable mp3 files."""
    return {
        "generator": "pipeline.data.synth",
        "version": SYNTH_VERSION,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
    }


def _settings(clips_per_part: int, seed: int, label_noise: float) -> dict[str, object]:
    return {
        **_audio_key(seed),
        "clips_per_part": clips_per_part,
        "label_noise": label_noise,
        "tags": list(SYNTH_TAGS),
    }


def _read_settings(out_dir: Path) -> dict[str, object] | None:
    try:
        stored = json.loads((out_dir / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def generate_synth_dataset(
    out_dir: Path,
    *,
    clips_per_part: int = 24,
    seed: int = 2014,
    label_noise: float = 0.1,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset in MTAT's layout under ``out_dir``; returns the annotations path.

    Clip ``i`` goes to part ``i mod 16`` with clip_id ``i + 2``; its audio depends only on
    ``(seed, i)``, so ``workers`` changes nothing but speed. Returns at once when the dataset is
    already there with the same settings (``synth.json``); otherwise it renders the clips that
    are missing (all of them when the seed or generator version changed), removes clips left
    over from other settings, and writes ``annotations_final.csv`` last, so a present
    annotations file always means a complete dataset.
    """
    if clips_per_part < 1:
        raise ValueError(f"clips_per_part must be at least 1, got {clips_per_part}")
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise must lie in [0, 1), got {label_noise}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out_dir = Path(out_dir)
    annotations = out_dir / ANNOTATIONS_FILE
    n_clips = clips_per_part * len(MTAT_PARTS)
    paths = [clip_path(seed, i) for i in range(n_clips)]
    settings = _settings(clips_per_part, seed, label_noise)
    stored = _read_settings(out_dir)
    files_present = [(out_dir / p).is_file() for p in paths]
    if annotations.is_file() and stored == settings and all(files_present):
        return annotations

    # From here on the annotations are stale: remove them first, record the new settings (so an
    # interrupted run can resume with the clips it already wrote), then write clips, then labels.
    annotations.unlink(missing_ok=True)
    reuse = stored is not None and all(stored.get(k) == v for k, v in _audio_key(seed).items())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    wanted = set(paths)
    for part in MTAT_PARTS:
        folder = out_dir / part
        folder.mkdir(exist_ok=True)
        for old in [
            *folder.glob("synth_artist_*.mp3"),
            *folder.glob(".synth_artist_*.partial.mp3"),
        ]:
            if f"{part}/{old.name}" not in wanted:  # from other settings or an interrupted run
                old.unlink()

    jobs = [
        (seed, i, str(out_dir / p))
        for i, (p, present) in enumerate(zip(paths, files_present, strict=True))
        if not (reuse and present)
    ]
    with tqdm(total=len(jobs), desc="synth clips", unit="clip", disable=not progress) as bar:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                _write_clip(job)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_tune_malloc) as pool:
                for _ in pool.map(_write_clip, jobs, chunksize=2):
                    bar.update()

    labels = np.stack(
        [noisy_labels(clip_true_tags(seed, i), seed, i, label_noise) for i in range(n_clips)]
    )
    clip_ids = [i + 2 for i in range(n_clips)]
    write_annotations(annotations, clip_ids, SYNTH_TAGS, labels, paths)
    return annotations
