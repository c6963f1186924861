"""A tiny untrained model and synthetic audio for the tagging tests (issue 6): nothing trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from pipeline.config import Variant
from pipeline.settings import ModelSizes
from pipeline.training.networks import build_model, network_config, save_trained

TAGS = ["rock", "piano", "quiet", "vocal", "drums"]
TINY = {"conv_filters": 4, "conv_length": 3, "pool_size": 2, "dense_units": 8, "raw_filters": 8}
FRAMES, LENGTH, STRIDE = 16, 256, 256
WINDOW = (FRAMES - 1) * STRIDE + LENGTH  # 4096 samples, 0.256 s
CPU = ("--device", "cpu")
"""e2e-tag's options for the CPU: its default, auto, would take a GPU host's CUDA (tests run on
the CPU unless they ask for CUDA, tests/conftest.py)."""


def make_model_dir(
    folder: Path, front_end: str = "spectrogram", seed: int = 0, frames: int = FRAMES
) -> Path:
    """A model directory in the format training writes: model.pt state dict + config.json."""
    torch.manual_seed(seed)
    model = build_model(front_end, LENGTH, STRIDE, frames, len(TAGS), TINY)
    folder.mkdir(parents=True)
    variant = Variant(front_end, LENGTH, STRIDE)
    config = {
        **network_config(variant, frames, TAGS, ModelSizes(**TINY), 1024),
        "training": {"profile": "test", "seed": seed},
        "dataset": "test",
        "best_valid_auc": 0.5,
        "best_update": 0,
    }
    save_trained(folder, model.state_dict(), config)
    return folder


def write_audio(
    path: Path, seconds: float, rate: int = 16000, channels: int = 1, fmt: str = "WAV"
) -> Path:
    """A pulsing tone plus noise; float WAV keeps the samples exact for hand computations."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(len(path.name)).standard_normal(t.size)
    signal = 0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.7 * t) + 0.05 * noise
    data = np.stack([signal] * channels, axis=1) if channels > 1 else signal
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if fmt == "WAV" else None
    sf.write(path, data.astype(np.float32), rate, format=fmt, subtype=subtype)
    return path
