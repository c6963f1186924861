"""Run every kind of step on a little data; print each output's hash.

Run as ``python portability_probe.py OUT_DIR [portable|native]`` in a subprocess whose
environment forces other CPU kernels (numpy dispatch, OpenBLAS core type, MKL and oneDNN ISA
caps, ATen capability): tests/repro/test_portability.py compares the hashes across
environments, and with ``tests/reference/portability_probe.json``.

Two parts, each through the pipeline's own functions:

* the data steps: two clips of the embedded dataset synthesised and encoded to mp3 (the
  ``synth`` step's worker), then decoded into the int16 audio cache (``decode_audio``);
* the float steps, on audio made with integer arithmetic only (the same bytes whatever
  kernels run): a mel cache, a spectrogram and a raw-audio model trained by the looped
  engine (the pinned products), and a raw-audio model trained by the packed engine in
  minibatches of 16, whose vmapped step runs torch's own convolutions (MKL, and oneDNN or
  NNPACK unless portable numerics turn them off).
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
PACKED_PROFILE = TrainingProfile(
    "probe", updates=60, validate_every=30, batch_size=16, learning_rate=0.02, momentum=0.9
)
SYNTH_SEED, SYNTH_CLIPS = 2014, (0, 1)

DATA_OUTPUTS = ("synth/clips.mp3", "synth/audio.bin")
"""The hashes of the data steps (the other outputs are the float steps')."""


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


def digest(*paths: Path) -> str:
    """One hash of the files' bytes, in order."""
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def data_steps(root: Path) -> dict[str, str]:
    """Synthesise and encode clips of the embedded dataset, then decode them into the cache."""
    from pipeline.data.synth.writer import write_clip
    from pipeline.features.cache import build_audio_cache

    folder = root / "synth"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"clip{index}.mp3" for index in SYNTH_CLIPS]
    for index, name in zip(SYNTH_CLIPS, names, strict=True):
        write_clip((SYNTH_SEED, index, str(folder / name)))
    pd.DataFrame(
        {"clip_id": [2, 3], "mp3_path": names, "part": "0", "split": "train", "tag": [1, 0]}
    ).to_csv(folder / "split.csv", index=False)
    build_audio_cache(folder / "split.csv", folder, folder / "audio", folder / "skipped.csv", 1)
    return {
        "synth/clips.mp3": digest(*(folder / name for name in names)),
        "synth/audio.bin": digest(folder / "audio.bin"),
    }


def train(root: Path, variant: Variant, mode: str, engine: str, profile: TrainingProfile) -> Path:
    """Train seed 1 of ``variant`` on the probe's data; its model folder."""
    from pipeline.training.loop import TrainingJob, train_variant

    audio = AudioSettings(window_seconds=1.0, min_n_fft=1024)
    job = TrainingJob(
        variant,
        (1,),
        "probe",
        TrainingSettings(profile, "cpu", 1, mode, engine),
        SIZES,
        audio,
        EvaluationSettings(batch_size=64),
    )
    out = root / f"{variant.name}_{engine}"
    mel = root / "mel" if variant.front_end == "spectrogram" else None
    train_variant(
        job, root / "split.csv", root / "audio", mel, root / "windows.csv", out, progress=False
    )
    return out / "seed1"


def main(root: Path, mode: str) -> dict[str, str]:
    use_numerics(mode)  # before any tensor operation, as the pipeline's steps do
    from pipeline.features.cache import build_mel_cache
    from pipeline.features.windows import write_windows

    root.mkdir(parents=True, exist_ok=True)
    hashes = data_steps(root)
    write_inputs(root)
    length, stride = PAIR
    build_mel_cache(root / "audio", root / "mel", length, stride, 1024)
    write_windows(root / "audio.csv", root / "windows.csv", SAMPLE_RATE, length, stride)
    hashes["mel.bin"] = digest(root / "mel.bin")
    runs = [("spectrogram", "looped", PROFILE), ("raw", "looped", PROFILE)]
    runs.append(("raw", "packed", PACKED_PROFILE))
    for front_end, engine, profile in runs:
        model_dir = train(root, Variant(front_end, length, stride), mode, engine, profile)
        for name in ("model.pt", "history.csv"):
            hashes[f"{front_end}_{length}_{stride}_{engine}/{name}"] = digest(model_dir / name)
    return hashes


def pin() -> None:
    """Rewrite tests/reference/portability_probe.json from a portable run on this machine."""
    import tempfile

    import torch

    from pipeline.repro.numerics import cpu_model

    reference = Path(__file__).resolve().parents[1] / "reference" / "portability_probe.json"
    with tempfile.TemporaryDirectory() as scratch:
        hashes = main(Path(scratch) / "run", "portable")
    pinned = {
        "what": "tests/repro/portability_probe.py in portable mode: the bytes of every output",
        "made_by": "python tests/repro/portability_probe.py --pin",
        "cpu": cpu_model(),
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "hashes": hashes,
    }
    reference.write_text(json.dumps(pinned, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--pin"]:
        pin()
        sys.exit(0)
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "portable")))
