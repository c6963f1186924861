"""Small in-memory caches of both front ends for the engine and sampler tests: random int16
audio (raw) or fp16 mel frames (spectrogram), random labels, a few training clips."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import Variant
from pipeline.constants import N_MELS
from pipeline.settings import ModelSizes
from pipeline.training.batches import WindowSource
from pipeline.training.networks import build_variant_model

SIZES = ModelSizes(raw_filters=16, conv_filters=8, conv_length=4, pool_size=4, dense_units=16)
FRAMES = 40
N_TAGS = 5
VARIANTS = {
    "spectrogram": Variant("spectrogram", 512, 256),
    "raw": Variant("raw", 256, 256),
}


def window_rows(variant: Variant) -> int:
    """Rows per window: frames (mel) or samples (raw)."""
    if variant.front_end == "spectrogram":
        return FRAMES
    return (FRAMES - 1) * variant.stride + variant.length


def source_of(variant: Variant, clips: int = 9, seed: int = 0) -> WindowSource:
    """Clips of different lengths, every third one validation, the others training."""
    rng = np.random.default_rng(seed)
    window = window_rows(variant)
    counts = window + rng.integers(0, 3 * window, clips)
    rows = int(counts.sum())
    if variant.front_end == "spectrogram":
        array = rng.random((rows, N_MELS)).astype(np.float16)
        start_column = "start_frame"
    else:
        array = rng.integers(-8000, 8000, rows).astype(np.int16)
        start_column = "start_sample"
    index = pd.DataFrame(
        {
            "clip_id": np.arange(clips) * 10,
            "split": ["valid" if c % 3 == 2 else "train" for c in range(clips)],
            "offset": np.r_[0, np.cumsum(counts)[:-1]],
            "count": counts,
        }
    )
    labels = (rng.random((clips, N_TAGS)) < 0.4).astype(np.float32)
    tags = [f"tag{t}" for t in range(N_TAGS)]
    return WindowSource(array, index, labels, tags, window, start_column)


def builder(variant: Variant):
    """Builds the variant's small network (call it after seeding torch)."""
    return lambda: build_variant_model(variant, FRAMES, N_TAGS, SIZES)
