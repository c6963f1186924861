"""Worker processes: render one clip and write it as an mp3 whose decoded peak does not clip."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.constants import SAMPLE_RATE
from pipeline.data.synth.dsp import CLIP_SAMPLES
from pipeline.data.synth.render import generate_clip

_MAX_DECODED_PEAK = 0.99
_ENCODE_ATTEMPTS = 4
_RESCALE_MARGIN = 0.95
"""A clip whose decoded peak overshoots is scaled to this share of the allowed peak, re-encoded."""

_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
"""glibc ``mallopt`` parameters (malloc.h)."""
_MMAP_THRESHOLD_BYTES = 64 << 20
_TRIM_THRESHOLD_BYTES = 256 << 20
"""Well above a clip-sized buffer (~2 MB), so such buffers stay in the heap when freed."""


def write_clip(job: tuple[int, int, str], samples: int = CLIP_SAMPLES) -> None:
    """Render clip ``index`` of ``(seed, index, path)`` and write it under a temporary name,
    then rename. ``samples``: MTAT's 29.1 s unless a shorter clip is asked for (the
    portability probe on an emulated CPU, where a full clip costs half a minute).

    The mp3 is decoded once to check its peak: the codec's overshoot must not clip.
    """
    seed, index, path = job
    audio, _ = generate_clip(np.random.default_rng([seed, index]), samples=samples)
    target = Path(path)
    partial = target.with_name(f".{target.stem}.partial.mp3")
    for _ in range(_ENCODE_ATTEMPTS):
        sf.write(partial, audio, SAMPLE_RATE, format="MP3")
        peak = float(np.abs(sf.read(partial, dtype="float32")[0]).max())
        if peak < _MAX_DECODED_PEAK:
            break
        audio = audio * np.float32(_RESCALE_MARGIN * _MAX_DECODED_PEAK / peak)
    os.replace(partial, target)


def tune_malloc() -> None:
    """Worker initialiser: keep freed clip-sized buffers in glibc's heap instead of unmapping them.

    Synthesis allocates many ~2 MB temporaries; by default each is a fresh mmap whose pages
    fault in again, which costs about as much as the synthesis itself. Pure speed: no effect
    on the output. A no-op where glibc's ``mallopt`` is unavailable.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass
