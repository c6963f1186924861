"""Composition: a clip's key, tempo grid and chords, and the notes of its melodic parts.

Melody, accompaniment and bass all follow one :class:`Song` (the same chord at the same time),
so a clip sounds like music rather than independent instruments, and what the tags describe
(tempo, register) is audible in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.data.synth.dsp import CLIP_SECONDS, OCTAVE, Line
from pipeline.data.synth.tags import ClipAttributes

BEATS_PER_BAR = 4
SCALE_STEPS = 7
"""Degrees in a (heptatonic) scale: degree 7 is the tonic an octave up."""
THIRD = 2
"""Scale degrees from one chord tone to the next (chords are stacked thirds)."""
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
_P_MINOR_DARK = 0.7
"""Chance of a minor key for techno, ambient and metal; other clips use ``_P_MINOR``."""
_P_MINOR = 0.4
_SLOW_HARMONY_BPM = 110
"""Above this tempo (and in ambient clips) chords may last two bars..."""
_P_TWO_BAR_CHORDS = 0.7
"""...with this chance."""
_SPARE_BEATS = 2
"""Beats added to the grid beyond the clip, so the offset first beat still reaches its end."""

_DENSITY_RANGE = (0.2, 3.0)
"""Notes per beat that rhythms are drawn for."""
_REST_WEIGHT = 0.25
"""Weight of a one-beat rest among the note lengths (whole to sixteenths)."""

_MELODY_START_DEGREES = (2, 9)
"""Range (end excluded) of the degree a melody starts on."""
_MELODY_STEPS = [-3, -2, -1, -1, 0, 1, 1, 2, 3]
"""Scale steps a melody moves by, equally likely (so mostly by small steps)."""
_TRIAD = (0, 2, 4)
_CHORD_TONE_OCTAVES = range(-1, 3)
"""Octaves (of the scale) searched for the chord tone nearest to a downbeat's melody note."""
_TOP_DEGREE = 13
_MIDDLE_DEGREE = 6
_BOUNCE = 2
"""A melody leaving degrees 0..13 is clipped and bounced this many degrees back inside."""
_MELODY_VELOCITY = (0.6, 1.0)
_STRONG_BEAT_ACCENT = 1.1
"""Velocity factor of notes on beats 1 and 3."""

_ARPEGGIO_SLOW_BEAT = 0.45
"""Arpeggios move in eighths when a beat lasts longer than this (s), in quarters otherwise..."""
_P_SIXTEENTH_ARPEGGIO = 0.5
_SIXTEENTH_ARPEGGIO_BEAT = 0.5
"""...and, with this chance, in sixteenths when a beat lasts longer than this (s)."""
_P_UP_DOWN_ARPEGGIO = 0.5
"""Chance of the 3-tone up-down arpeggio rather than the 4-tone one."""
_ARPEGGIO_TONES = 4
_ARPEGGIO_VELOCITY = (0.6, 0.9)
_P_HOLD_CHORD = 0.6
"""Chance that block chords are held as long as the chord lasts rather than one bar."""
_BLOCK_LEGATO = 0.98
_BLOCK_VELOCITY = (0.7, 0.9)
_COMP_PATTERNS = ([0, 2], [0, 1, 2, 3], [0, 1.5, 2, 3], [0, 0.5, 1.5, 2, 3, 3.5], [0, 2.5])
"""Beats within a bar where a comped or strummed chord is struck."""
_STRUM_SPREAD = 0.012
"""Seconds between the strings of a strummed chord."""
_COMP_LEGATO = 0.9
_COMP_VELOCITY = (0.5, 0.9)

_BASS_BASE = {"low": 28, "mid": 40, "high": 40}
"""MIDI pitch above which the bass plays, per register."""
_BASS_PATTERNS = {  # beats within a bar where the bass plays, and each note's length (beats)
    "offbeat": ([0.5, 1.5, 2.5, 3.5], 0.4),  # between a four-on-the-floor kick
    "eighths": ([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5], 0.45),  # rock
    "halves": ([0, 2], 1.9),  # slow songs
    "quarters": ([0, 1, 2, 3], 0.9),
}
_SLOW_BASS_BPM = 90
_P_POP_BASS_OCTAVE = 0.4
"""Chance that a pop bass jumps an octave up on beat 3."""
_BASS_VELOCITY = (0.75, 1.0)


@dataclass
class Song:
    """The shared musical frame of a clip: tempo grid, key, scale and chord progression."""

    beat: float  # seconds per beat
    offset: float  # time of the first beat
    n_beats: int
    tonic: int  # pitch class of the key (0 = C)
    scale: np.ndarray
    chords: list[int]  # scale degree of the chord root, per bar
    bars_per_chord: int

    def chord_at(self, beat_index: float) -> int:
        bar = int(beat_index // BEATS_PER_BAR)
        return self.chords[(bar // self.bars_per_chord) % len(self.chords)]

    def degree_pitch(self, degree: int, octave_base: int) -> int:
        """MIDI pitch of a scale degree (any integer, wraps octaves) above ``octave_base``."""
        octave, step = divmod(degree, SCALE_STEPS)
        return octave_base + OCTAVE * octave + self.tonic + int(self.scale[step])

    def time(self, beat_index: float) -> float:
        return self.offset + beat_index * self.beat


def make_song(
    rng: np.random.Generator, attrs: ClipAttributes, seconds: float = CLIP_SECONDS
) -> Song:
    """Draw the clip's key, progression and beat grid (its tempo comes from ``attrs``) for a
    clip of ``seconds``."""
    beat = 60.0 / attrs.bpm
    dark = attrs.style in ("techno", "ambient") or attrs.metal
    minor = rng.random() < (_P_MINOR_DARK if dark else _P_MINOR)
    slow_harmony = attrs.bpm > _SLOW_HARMONY_BPM or attrs.style == "ambient"
    return Song(
        beat=beat,
        offset=float(rng.uniform(0.0, beat)),
        n_beats=int(seconds / beat) + _SPARE_BEATS,
        tonic=int(rng.integers(0, OCTAVE)),
        scale=_MINOR if minor else _MAJOR,
        chords=list(_PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]),
        bars_per_chord=2 if slow_harmony and rng.random() < _P_TWO_BAR_CHORDS else 1,
    )


def _rhythm(rng: np.random.Generator, n_beats: int, density: float) -> list[tuple[float, float]]:
    """Note (start, length) in beats: a mix of whole to sixteenth notes and rests by density."""
    # density ~ notes per beat; weights over [whole, half, quarter, eighths, sixteenths, rest]:
    # long notes fade out and short ones in as the density grows
    d = float(np.clip(density, *_DENSITY_RANGE))
    w = np.array(
        [max(0.0, 0.6 - d), max(0.0, 1.0 - 0.6 * d), 1.0, d, max(0.0, d - 1.0) * 0.8, _REST_WEIGHT]
    )
    w /= w.sum()
    notes: list[tuple[float, float]] = []
    b = 0.0
    while b < n_beats:
        kind = int(rng.choice(len(w), p=w))
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


def melody(
    rng: np.random.Generator,
    song: Song,
    pitch_range: tuple[int, int],
    density: float,
    legato: float = 0.95,
) -> Line:
    """A random-walk melody over the scale, leaning on chord tones at chord changes.

    Pitches are folded by octaves into ``pitch_range`` (MIDI, inclusive).
    """
    lo, hi = pitch_range
    base = lo - song.tonic
    notes = []
    degree = int(rng.integers(*_MELODY_START_DEGREES))
    for start, length in _rhythm(rng, song.n_beats, density):
        step = int(rng.choice(_MELODY_STEPS))
        degree += step
        if start % BEATS_PER_BAR == 0:  # snap to the nearest chord tone on the downbeat
            root = song.chord_at(start)
            tones = np.array(
                [root + SCALE_STEPS * o + t for o in _CHORD_TONE_OCTAVES for t in _TRIAD]
            )
            degree = int(tones[np.argmin(np.abs(tones - degree))])
        if degree < 0 or degree > _TOP_DEGREE:
            degree = (
                int(np.clip(degree, 0, _TOP_DEGREE))
                - int(np.sign(degree - _MIDDLE_DEGREE)) * _BOUNCE
            )
        pitch = song.degree_pitch(degree, base)
        while pitch > hi:
            pitch -= OCTAVE
        while pitch < lo:
            pitch += OCTAVE
        velocity = rng.uniform(*_MELODY_VELOCITY) * (_STRONG_BEAT_ACCENT if start % 2 == 0 else 1.0)
        notes.append((song.time(start), length * song.beat * legato, pitch, velocity))
    return Line.from_lists(notes)


def _chord_pitches(song: Song, beat_index: float, base: int, n: int = 3) -> list[int]:
    root = song.chord_at(beat_index)
    return [song.degree_pitch(root + THIRD * i, base) for i in range(n)]


def accompaniment(
    rng: np.random.Generator, song: Song, base: int, mode: str, n_voices: int = 3
) -> list[Line]:
    """Chordal parts: held ``block`` or re-struck ``comp`` chords, ``arpeggio`` or ``strum``."""
    lines: list[list[tuple[float, float, float, float]]] = [[] for _ in range(n_voices)]
    if mode == "arpeggio":
        step = 0.5 if song.beat > _ARPEGGIO_SLOW_BEAT else 1.0
        if rng.random() < _P_SIXTEENTH_ARPEGGIO and song.beat > _SIXTEENTH_ARPEGGIO_BEAT:
            step = 0.25
        pattern = [0, 1, 2, 1] if rng.random() < _P_UP_DOWN_ARPEGGIO else [0, 1, 2, 3, 2, 1]
        b, i = 0.0, 0
        arp: list[tuple[float, float, float, float]] = []
        while b < song.n_beats:
            tones = _chord_pitches(song, b, base, _ARPEGGIO_TONES)
            arp.append(
                (
                    song.time(b),
                    step * song.beat,
                    tones[pattern[i % len(pattern)]],
                    rng.uniform(*_ARPEGGIO_VELOCITY),
                )
            )
            b += step
            i += 1
        return [Line.from_lists(arp)]
    if mode == "block":
        bar = BEATS_PER_BAR
        hold = bar * song.bars_per_chord if rng.random() < _P_HOLD_CHORD else bar
        starts = np.arange(0, song.n_beats, hold, dtype=float)
        for b in starts:
            for v, p in enumerate(_chord_pitches(song, b, base, n_voices)):
                lines[v].append(
                    (
                        song.time(b),
                        hold * song.beat * _BLOCK_LEGATO,
                        p,
                        rng.uniform(*_BLOCK_VELOCITY),
                    )
                )
    else:  # comp / strum: rhythmic re-striking
        pattern = _COMP_PATTERNS[int(rng.integers(len(_COMP_PATTERNS)))]
        for bar_start in range(0, song.n_beats, BEATS_PER_BAR):
            for off in pattern:
                b = bar_start + off
                spread = _STRUM_SPREAD if mode == "strum" else 0.0
                for v, p in enumerate(_chord_pitches(song, b, base, n_voices)):
                    lines[v].append(
                        (
                            song.time(b) + v * spread,
                            song.beat * _COMP_LEGATO,
                            p,
                            rng.uniform(*_COMP_VELOCITY),
                        )
                    )
    return [Line.from_lists(notes) for notes in lines if notes]


def bass_line(rng: np.random.Generator, song: Song, attrs: ClipAttributes) -> Line:
    """Chord roots on a pattern that suits the drums and style (offbeats under techno's kick)."""
    base = _BASS_BASE[attrs.register]
    notes = []
    if attrs.drums == "four":
        offs, length = _BASS_PATTERNS["offbeat"]
    elif attrs.style == "rock":
        offs, length = _BASS_PATTERNS["eighths"]
    elif attrs.bpm < _SLOW_BASS_BPM:
        offs, length = _BASS_PATTERNS["halves"]
    else:
        offs, length = _BASS_PATTERNS["quarters"]
    for bar in range(0, song.n_beats, BEATS_PER_BAR):
        for off in offs:
            b = bar + off
            jump = attrs.style == "pop" and off == 2 and rng.random() < _P_POP_BASS_OCTAVE
            octave = OCTAVE if jump else 0
            notes.append(
                (
                    song.time(b),
                    length * song.beat,
                    song.degree_pitch(song.chord_at(b), base) + octave,
                    rng.uniform(*_BASS_VELOCITY),
                )
            )
    return Line.from_lists(notes)


def foundation_line(song: Song, attrs: ClipAttributes) -> Line:
    """Held chord roots in the bass register: the low end every arrangement has (cellos and
    double basses, a left hand, a drone), bass guitar or not, so low energy is no tag's cue."""
    base = _BASS_BASE[attrs.register]
    hold = BEATS_PER_BAR * song.bars_per_chord
    notes = [
        (song.time(b), hold * song.beat * 0.97, song.degree_pitch(song.chord_at(b), base), 0.9)
        for b in range(0, song.n_beats, hold)
    ]
    return Line.from_lists(notes)
