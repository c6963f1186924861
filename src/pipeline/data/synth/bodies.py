"""Instrument bodies: the fixed resonances that give each instrument its spectral envelope.

A real instrument's partials pass through its body (a guitar's air cavity and top plate, a
violin's bridge hill, a piano's soundboard and hammer): resonances at fixed frequencies that do
not move with the note played. They are what tells instruments apart across the spectrum, from
the bass's low harmonics to a violin's 2-3 kHz, so a network that tags instruments must tell
bands apart (the paper's Figure 2). Each resonance's centre is drawn within a range per clip.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.data.synth.dsp import peaking_sos

_RESONANCES: dict[str, tuple[tuple[tuple[float, float], float, float], ...]] = {
    # name: ((centre range Hz), Q, gain dB), ...
    "piano": (((180, 300), 1.2, 6.0), ((1000, 1600), 1.0, 6.0)),
    "harpsichord": (((1500, 2800), 1.0, 9.0),),
    "guitar": (((200, 260), 2.0, 8.0), ((2200, 3200), 1.5, 6.0)),
    "distorted_guitar": (((600, 1000), 1.0, 8.0),),
    "strings": (((350, 550), 1.5, 8.0),),
    "violin": (((260, 300), 3.0, 6.0), ((2000, 3000), 2.0, 12.0)),
    "flute": (((700, 1100), 1.5, 4.0),),
    "synth": (((400, 3000), 4.0, 12.0),),
    "voice": (((2400, 3000), 4.0, 14.0),),  # the singer's formant
    "bass": (((130, 190), 1.5, 5.0),),
}


def body_sos(name: str, rng: np.random.Generator) -> np.ndarray:
    """The peaking sections of ``name``'s body, centres drawn from their ranges."""
    sections = [peaking_sos(rng.uniform(*centre), q, gain) for centre, q, gain in _RESONANCES[name]]
    return np.concatenate(sections)


def through_body(part: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """``part`` filtered by ``name``'s body (float32)."""
    return signal.sosfilt(body_sos(name, rng), part).astype(np.float32)
