"""Build a mel cache and train a spectrogram and a raw-audio model; print each output's hash.

Run as ``python portability_probe.py OUT_DIR [portable|native]`` in a subprocess whose
environment forces other CPU kernels (numpy dispatch, OpenBLAS core type, MKL and oneDNN ISA
caps, ATen capability): tests/repro/test_portability.py compares the hashes across
environments. The audio is made with integer arithmetic only, so it is the same bytes
whatever kernels run; everything after it goes through the pipeline's own functions.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Variant
from pipeline.determinism import use_numerics
from pipeline.settings import (
    AudioSettings,
    EvaluationSettings,
    ModelSizes,
    TrainingProfile,
    TrainingSettings,
)

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 20_000
SPLITS = ["train"] * 12 + ["valid"] * 4 + ["test"] * 4
PAIR = (512, 256)
SIZES = ModelSizes(raw_filters=32, conv_filters=8, conv_length=4, pool_size=2, dense_units=16)
PROFILE = TrainingProfile(
    "probe", updates=300, validate_every=100, batch_size=10, learning_rate=0.02, momentum=0.9
)


def write_inputs(root: Path) -> None:
    """split.csv and the int16 audio cache: tag "tone" marks clips with a square wave."""
    rng = np.random.default_rng(7)
    tone = (np.arange(len(SPLITS)) % 2).astype(np.int64)
    high = (np.arange(len(SPLITS)) % 3 == 0).astype(np.int64)
    t = np.arange(CLIP_SAMPLES)
    clips = []
    for i in range(len(SPLITS)):
        period = 20 if high[i] else 73
        square = np.where((t // period) % 2 == 0, 1, -1) * 3000 * tone[i]
        clips.append((rng.integers(-2000, 2000, CLIP_SAMPLES) + square).astype("<i2"))
    (root / "audio.bin").write_bytes(np.concatenate(clips).tobytes())
    ids = np.arange(len(SPLITS)) + 2
    pd.DataFrame(
        {
            "clip_id": ids,
            "split": SPLITS,
            "offset": np.arange(len(SPLITS)) * CLIP_SAMPLES,
            "count": CLIP_SAMPLES,
        }
    ).to_csv(root / "audio.csv", index=False)
    pd.DataFrame(
        {
            "clip_id": ids,
            "mp3_path": [f"x/{i}.mp3" for i in ids],
            "part": "x",
            "split": SPLITS,
            "tone": tone,
            "high": high,
        }
    ).to_csv(root / "split.csv", index=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(root: Path, mode: str) -> dict[str, str]:
    use_numerics(mode)  # before any tensor operation, as the pipeline's steps do
    from pipeline.features.cache import build_mel_cache
    from pipeline.features.windows import write_windows
    from pipeline.training.loop import TrainingJob, train_variant

    root.mkdir(parents=True, exist_ok=True)
    write_inputs(root)
    audio = AudioSettings(window_seconds=1.0, min_n_fft=1024)
    length, stride = PAIR
    build_mel_cache(root / "audio", root / "mel", length, stride, audio.min_n_fft)
    write_windows(root / "audio.csv", root / "windows.csv", audio.window_samples, length, stride)
    hashes = {"mel.bin": digest(root / "mel.bin")}
    for front_end in ("spectrogram", "raw"):
        variant = Variant(front_end, length, stride)
        job = TrainingJob(
            variant,
            (1,),
            "probe",
            TrainingSettings(PROFILE, "cpu", 1, mode),
            SIZES,
            audio,
            EvaluationSettings(batch_size=64),
        )
        out = root / variant.name
        mel = root / "mel" if front_end == "spectrogram" else None
        train_variant(
            job, root / "split.csv", root / "audio", mel, root / "windows.csv", out, progress=False
        )
        for name in ("model.pt", "history.csv"):
            hashes[f"{variant.name}/{name}"] = digest(out / "seed1" / name)
    return hashes


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "portable")))
