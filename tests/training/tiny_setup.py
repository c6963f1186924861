"""A tiny raw-audio training setup: a few clips, two tags, a network of a few hundred
parameters, so the split pieces of the training loop run in well under a second. It lives in
memory, or on disk in the pipeline's formats for whole runs of ``train_variant``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.config import Variant
from pipeline.determinism import configure_torch
from pipeline.settings import (
    AudioSettings,
    EvaluationSettings,
    ModelSizes,
    TrainingProfile,
    TrainingSettings,
)
from pipeline.training.batches import WindowSource
from pipeline.training.engines import build_engine, seed_networks
from pipeline.training.loop import TrainingJob, TrainingRun, model_config
from pipeline.training.networks import build_variant_model
from pipeline.training.sampling import HostSampler

TINY = ModelSizes(raw_filters=8, conv_filters=4, conv_length=3, pool_size=2, dense_units=8)
VARIANT = Variant("raw", 256, 256)
FRAMES = 16  # 16 frames of 256 samples: a 4096-sample window
CLIP_SAMPLES = 6000


def tiny_job(
    updates: int = 6,
    validate_every: int = 2,
    seed: int = 3,
    learning_rate: float = 0.05,
    seeds: tuple[int, ...] | None = None,
    engine: str = "looped",
) -> TrainingJob:
    """A job training ``seeds`` (default: ``seed`` alone) with the tiny network."""
    profile = TrainingProfile("tiny", updates, validate_every, 4, learning_rate, 0.9)
    return TrainingJob(
        VARIANT,
        seeds or (seed,),
        "synth",
        TrainingSettings(profile, "cpu", 1, engine=engine),
        TINY,
        AudioSettings(FRAMES * 256 / 16_000, 256),
        EvaluationSettings(batch_size=3),
    )


def tiny_source() -> tuple[WindowSource, pd.DataFrame]:
    """Eight training and four validation clips of noise; tag 0 marks the loud clips."""
    splits = ["train"] * 8 + ["valid"] * 4
    loud = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1], dtype=np.float32)
    noise = np.random.default_rng(0).normal(size=(len(splits), CLIP_SAMPLES))
    audio = (noise * (500 + 4000 * loud[:, None])).astype(np.int16).reshape(-1)
    index = pd.DataFrame(
        {
            "clip_id": np.arange(len(splits)),
            "split": splits,
            "offset": np.arange(len(splits)) * CLIP_SAMPLES,
            "count": CLIP_SAMPLES,
        }
    )
    labels = np.stack([loud, 1 - loud], axis=1)
    source = WindowSource(audio, index, labels, ["loud", "quiet"], 4096, "start_sample")
    valid = [c for c, s in enumerate(splits) if s == "valid"]
    windows = pd.DataFrame(
        {"clip_id": np.repeat(valid, 2), "split": "valid", "start_sample": [0, 1904] * len(valid)}
    )
    return source, windows


def write_tiny_inputs(folder: Path) -> None:
    """:func:`tiny_source` as the files ``train_variant`` reads: split.csv, the audio cache
    (audio.bin, audio.csv) and windows.csv."""
    source, windows = tiny_source()
    index = source.index
    folder.mkdir(parents=True, exist_ok=True)
    split = index[["clip_id"]].assign(
        mp3_path=[f"0/clip-{c}.mp3" for c in index["clip_id"]], part="0", split=index["split"]
    )
    split[source.tags] = source.labels.astype(np.uint8)
    split.to_csv(folder / "split.csv", index=False)
    np.asarray(source.array, dtype="<i2").tofile(folder / "audio.bin")
    index.to_csv(folder / "audio.csv", index=False)
    windows.to_csv(folder / "windows.csv", index=False)


def tiny_run(job: TrainingJob, device: str = "cpu") -> TrainingRun:
    """What :func:`pipeline.training.loop._setup` builds (host sampling), from the in-memory
    data."""
    configure_torch(job.training.numerics, job.training.threads)
    source, windows = tiny_source()
    seeds, profile = list(job.seeds), job.training.profile
    networks = seed_networks(
        lambda: build_variant_model(job.variant, FRAMES, len(source.tags), job.model).to(device),
        seeds,
    )
    engine = build_engine(job.training.engine, networks, profile.learning_rate, profile.momentum)
    train_rows = source.rows_of("train")
    sampler = HostSampler(source, train_rows, seeds, profile.batch_size)
    configs = [model_config(job, FRAMES, source.tags, seed) for seed in seeds]
    return TrainingRun(
        engine,
        job.training.engine,
        sampler,
        source,
        windows,
        train_rows,
        torch.device(device),
        configs,
    )
