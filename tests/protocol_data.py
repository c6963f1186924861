"""Tiny datasets on disk in the pipeline's own formats, and a tiny training job, for the tests
of the evaluation protocol: split.csv, an audio cache (built from WAV files by
``build_audio_cache``, or written in a chosen clip order), an optional mel cache and the
evaluation windows, so training and evaluation read them exactly as the workflow does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from pipeline.config import Variant
from pipeline.constants import SAMPLE_RATE
from pipeline.data.split import SPLIT_COLUMNS
from pipeline.features.cache import CachePaths, _write_cache, build_audio_cache, build_mel_cache
from pipeline.features.windows import write_windows
from pipeline.settings import (
    AudioSettings,
    EvaluationSettings,
    ModelSizes,
    TrainingProfile,
    TrainingSettings,
)
from pipeline.training.loop import TrainingJob

TINY = ModelSizes(raw_filters=16, conv_filters=8, conv_length=3, pool_size=2, dense_units=16)
LENGTH = STRIDE = 256
FRAMES = 16
WINDOW_SAMPLES = (FRAMES - 1) * STRIDE + LENGTH  # 4096 samples, 0.256 s
MIN_N_FFT = 1024
PART_OF = {"train": "0", "valid": "c", "test": "d"}
TONE_HZ = 1000.0


@dataclass(frozen=True)
class Dataset:
    """The files one training and evaluation job reads."""

    split: Path
    audio: Path  # audio cache stem
    mel: Path | None  # mel cache stem (spectrogram variants)
    windows: Path


def tiny_job(
    variant: Variant,
    updates: int,
    validate_every: int,
    learning_rate: float = 0.02,
    seed: int = 1,
    batch_size: int = 10,
) -> TrainingJob:
    """A job with the tiny network, 4096-sample windows and SGD with momentum 0.9 on the CPU."""
    profile = TrainingProfile("tiny", updates, validate_every, batch_size, learning_rate, 0.9)
    return TrainingJob(
        variant,
        (seed,),
        "synth",
        TrainingSettings(profile, "cpu", 1),
        TINY,
        AudioSettings(WINDOW_SAMPLES / SAMPLE_RATE, MIN_N_FFT),
        EvaluationSettings(batch_size=16),
    )


def write_split(path: Path, clip_ids: list[int], splits: list[str], labels: dict) -> pd.DataFrame:
    """split.csv: clip_id, mp3_path, part, split, then one 0/1 column per tag of ``labels``."""
    frame = pd.DataFrame(
        {
            "clip_id": clip_ids,
            "mp3_path": [
                f"{PART_OF[s]}/clip-{c}.wav" for c, s in zip(clip_ids, splits, strict=True)
            ],
            "part": [PART_OF[s] for s in splits],
            "split": splits,
        },
        columns=SPLIT_COLUMNS,
    )
    for tag, values in labels.items():
        frame[tag] = np.asarray(values, dtype=np.uint8)
    frame.to_csv(path, index=False)
    return frame


def write_audio_cache(stem: Path, split: pd.DataFrame, clips: dict[int, np.ndarray]) -> None:
    """An int16 audio cache holding ``clips`` (clip id -> samples) in the dict's order."""
    split_of = split.set_index("clip_id")["split"]
    rows = (({"clip_id": c, "split": split_of[c]}, audio) for c, audio in clips.items())
    _write_cache(CachePaths.of(stem), rows, np.dtype("<i2"))


def finish(folder: Path, split: Path, audio: Path, spectrogram: bool) -> Dataset:
    """The mel cache (when asked) and the evaluation windows of an audio cache."""
    mel = None
    if spectrogram:
        mel = folder / "mel"
        build_mel_cache(audio, mel, LENGTH, STRIDE, MIN_N_FFT)
    windows = folder / "windows.csv"
    write_windows(CachePaths.of(audio).index, windows, WINDOW_SAMPLES, LENGTH, STRIDE)
    return Dataset(split, audio, mel, windows)


def planted_tone_dataset(folder: Path, spectrogram: bool = False) -> Dataset:
    """Clips of noise; tag ``tone`` is present iff a pure 1 kHz tone is mixed in, at the same
    loudness, so only the spectrum tells it. Tag ``coin`` is random (not learnable).

    One short training clip is skipped by the cache, so cache rows and split rows differ.
    """
    rng = np.random.default_rng(7)
    splits = ["train"] * 60 + ["valid"] * 16 + ["test"] * 24
    clip_ids = list(range(10, 10 + len(splits)))
    tone = np.tile([1, 0], len(splits) // 2)
    rng.shuffle(tone)
    coin = rng.integers(0, 2, len(splits))
    split_path = folder / "split.csv"
    split = write_split(split_path, clip_ids, splits, {"coin": coin, "tone": tone})
    samples = 9600  # two consecutive windows per clip
    t = np.arange(samples) / SAMPLE_RATE
    for row, has_tone in zip(split.itertuples(index=False), tone, strict=True):
        noise = rng.normal(size=samples)
        # the same power either way: noise alone, or 80 % tone and 20 % noise
        audio = 0.1 * noise * (np.sqrt(0.2) if has_tone else 1.0)
        if has_tone:
            phase = rng.uniform(0, 2 * np.pi)
            audio += 0.1 * np.sqrt(1.6) * np.sin(2 * np.pi * TONE_HZ * t + phase)
        if row.clip_id == 11:
            audio = audio[:1000]  # too short for a window: skipped
        path = folder / "audio" / row.mp3_path
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    audio_stem = folder / "audio_cache"
    build_audio_cache(
        split_path, folder / "audio", audio_stem, folder / "skipped.csv", WINDOW_SAMPLES
    )
    return finish(folder, split_path, audio_stem, spectrogram)
