"""What one clip is called and how it is labelled, from ``(seed, clip index)`` alone.

Names and labels draw from their own random streams, so they can be computed without
rendering the audio, and relabelling (another ``label_noise``) never touches the mp3 files.
"""

from __future__ import annotations

import numpy as np

from pipeline.constants import MTAT_PARTS
from pipeline.data.synth.tags import SYNTH_TAGS, clip_tags, sample_attributes

_NAME_STREAM = 1
_LABEL_STREAM = 2
"""Extra seed words that give names and labels random streams apart from the audio's."""
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
_CLIPS_PER_ARTIST = 6
_CLIPS_PER_ALBUM = 3
_ALBUMS_PER_ARTIST = 2
_TRACK_BLOCKS = 3
"""A clip's track number is its position on the album plus 3 times a draw from 0..2."""
_SEGMENT_STARTS = (0, 30, 59, 88, 117, 146, 175)
"""Where MTAT-style segments start in their song (s); each names a 29 s stretch."""
_SEGMENT_SECONDS = 29
_SPURIOUS_RARITY = 10
"""An annotator adds a wrong tag this many times less often than it misses a true one."""


def clip_path(seed: int, index: int) -> str:
    """The MTAT-style relative path of clip ``index``: part folder round-robin, unique name."""
    rng = np.random.default_rng([seed, index, _NAME_STREAM])
    part = MTAT_PARTS[index % len(MTAT_PARTS)]
    artist = f"synth_artist_{index // _CLIPS_PER_ARTIST:02d}"
    album = f"album_{(index // _CLIPS_PER_ALBUM) % _ALBUMS_PER_ARTIST + 1}"
    track = index % _CLIPS_PER_ALBUM + 1 + _CLIPS_PER_ALBUM * int(rng.integers(0, _TRACK_BLOCKS))
    title = f"{_WORDS[int(rng.integers(len(_WORDS)))]}_{_NOUNS[int(rng.integers(len(_NOUNS)))]}"
    start = _SEGMENT_STARTS[int(rng.integers(len(_SEGMENT_STARTS)))]
    return f"{part}/{artist}-{album}-{track:02d}-{title}-{start}-{start + _SEGMENT_SECONDS}.mp3"


def noisy_labels(true_tags: set[str], seed: int, index: int, label_noise: float) -> np.ndarray:
    """Annotator noise: miss each true tag with ``label_noise``, add others at a tenth of it."""
    rng = np.random.default_rng([seed, index, _LABEL_STREAM])
    truth = np.array([t in true_tags for t in SYNTH_TAGS])
    u = rng.random(len(SYNTH_TAGS))
    labels = np.where(truth, u >= label_noise, u < label_noise / _SPURIOUS_RARITY)
    return labels.astype(np.uint8)


def clip_true_tags(seed: int, index: int) -> set[str]:
    """The true tags of clip ``index``, without rendering it (attributes are drawn first)."""
    return clip_tags(sample_attributes(np.random.default_rng([seed, index])))
