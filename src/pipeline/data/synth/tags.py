"""The tag model: latent clip attributes, how styles draw them, and the true tags they imply.

Styles make tags co-occur as in real music (rock brings guitar, drums and a male voice; techno a
synth and a four-on-the-floor beat), so the tag frequencies are skewed and correlated like
MagnaTagATune's rather than independent coin flips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
_POP_DRUMS = (("rock", "four", "sparse"), (0.55, 0.3, 0.15))
"""Drum patterns of pop clips with drums, and their chances."""
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
_P_HIGH = 0.18
_P_METAL = 0.3
"""Chance that a rock clip is metal (faster, louder, metal drums)."""
_METAL_BPM_RANGE = (140, 185)
_P_METAL_LOUD = 0.8
"""Chance of the loud dynamics class for metal (replaces rock's)."""
_HALL_REVERB = (0.25, 0.5)
"""Wet share range of the reverb that classical, ambient and choir clips always get."""
_P_ROOM_REVERB = 0.3
"""Chance that any other clip gets a lighter reverb, with a wet share in ``_ROOM_REVERB``."""
_ROOM_REVERB = (0.08, 0.25)
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
    n_probs = _N_INSTRUMENT_PROBS[style]
    n_instruments = 1 + int(rng.choice(len(n_probs), p=n_probs))
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
    metal = style == "rock" and rng.random() < _P_METAL
    drums = None
    if rng.random() < _P_DRUMS[style]:
        if style == "techno":
            drums = "four"
        elif metal:
            drums = "metal"
        elif style == "acoustic":
            drums = "sparse"
        elif style == "pop":
            drums = _choice(rng, *_POP_DRUMS)
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
        bpm = float(rng.uniform(*_METAL_BPM_RANGE))
    p_loud, p_quiet = _DYNAMICS[style]
    if metal:
        p_loud = _P_METAL_LOUD
    u = rng.random()
    dynamics = "loud" if u < p_loud else "quiet" if u < p_loud + p_quiet else "normal"
    noise = bool(rng.random() < _P_NOISE[style])
    reverb = 0.0
    if style in ("classical", "ambient") or voice == "choir":
        reverb = float(rng.uniform(*_HALL_REVERB))
    elif rng.random() < _P_ROOM_REVERB:
        reverb = float(rng.uniform(*_ROOM_REVERB))
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
