"""Run every kind of step on a little data; print each output's hash.

Run as ``python portability_probe.py OUT_DIR [portable|native] [--short]`` in a subprocess
whose environment forces other CPU kernels (numpy dispatch, OpenBLAS core type, MKL and oneDNN
ISA caps, ATen capability), or under an emulated CPU (``qemu-x86_64 -cpu Haswell``):
tests/repro/test_portability.py and tests/repro/test_emulated_cpus.py compare the hashes
across environments and CPUs, and with ``tests/reference/portability_probe.json``. The last
line of stdout is the hashes (JSON); a line ``kernels: {...}`` on stderr names the kernels
this process ran (numpy's dispatch targets, numpy's OpenBLAS core, ATen's capability, MKL's
branch, the pinned products' core).

Four parts, each through the pipeline's own functions:

* the data steps: clips of the embedded dataset synthesised and encoded to mp3 (the
  ``synth`` step's worker), then decoded into the int16 audio cache (``decode_audio``);
* the float steps, on audio made with integer arithmetic only (the same bytes whatever
  kernels run): a mel cache, a spectrogram and a raw-audio model trained by the looped
  engine (the pinned products), and a raw-audio model trained by the packed engine in
  minibatches of 16, whose vmapped step runs torch's own convolutions (MKL, and oneDNN or
  NNPACK unless portable numerics turn them off);
* the evaluation of the two looped models (``evaluate_variant``: clip-level ROC-AUC and
  PR-AUC per tag and per seed) and the clip scores it averages;
* Table 1 built from those metrics (``build_table1``: means over seeds, the paired tests),
  written as the ``table`` step writes it.

``--short`` is the same steps on less work, for an emulated CPU (where the full probe's
training alone takes many minutes, and each emulated AVX2 product about 300 times its native
time): one synthesised clip of 4 s instead of 29.1 s, 4 updates of 4 windows per model, and
two seeds in each looped job so that its table has a t-test over seeds. Its outputs are pinned under
``short/``; ``--pin`` pins both.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
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
AUDIO = AudioSettings(window_seconds=1.0, min_n_fft=1024)
SIZES = ModelSizes(raw_filters=32, conv_filters=8, conv_length=4, pool_size=2, dense_units=16)
PROFILE = TrainingProfile(
    "probe", updates=300, validate_every=100, batch_size=10, learning_rate=0.02, momentum=0.9
)
PACKED_PROFILE = TrainingProfile(
    "probe", updates=60, validate_every=30, batch_size=16, learning_rate=0.02, momentum=0.9
)
SHORT_PROFILE = TrainingProfile(
    "probe", updates=4, validate_every=2, batch_size=4, learning_rate=0.02, momentum=0.9
)
SHORT_PACKED_PROFILE = TrainingProfile(
    "probe", updates=4, validate_every=2, batch_size=4, learning_rate=0.02, momentum=0.9
)
SYNTH_SEED, SYNTH_CLIPS = 2014, (0, 1)
SHORT_CLIP_SAMPLES = 4 * SAMPLE_RATE
"""The short probe's synthesised clip: 4 s (rendering and encoding a whole 29.1 s clip takes
about 30 s on an emulated CPU)."""


@dataclass(frozen=True)
class Scale:
    """How much work the probe does: which clips it synthesises and how long they are (None:
    MTAT's 29.1 s), the profile of each training run, the seeds of the looped jobs, and the
    prefix of its output names."""

    synth_clips: tuple[int, ...]
    synth_samples: int | None
    looped: TrainingProfile
    packed: TrainingProfile
    seeds: tuple[int, ...]
    prefix: str


FULL = Scale(SYNTH_CLIPS, None, PROFILE, PACKED_PROFILE, (1,), "")
SHORT = Scale((0,), SHORT_CLIP_SAMPLES, SHORT_PROFILE, SHORT_PACKED_PROFILE, (1, 2), "short/")

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


def data_steps(root: Path, clips: tuple[int, ...], samples: int | None) -> dict[str, str]:
    """Synthesise and encode clips of the embedded dataset (``samples`` long, None: the
    dataset's own length), then decode them into the cache."""
    from pipeline.data.synth.dsp import CLIP_SAMPLES
    from pipeline.data.synth.writer import write_clip
    from pipeline.features.cache import build_audio_cache

    folder = root / "synth"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"clip{index}.mp3" for index in clips]
    for index, name in zip(clips, names, strict=True):
        write_clip((SYNTH_SEED, index, str(folder / name)), samples or CLIP_SAMPLES)
    pd.DataFrame(
        {
            "clip_id": [2 + k for k in range(len(names))],
            "mp3_path": names,
            "part": "0",
            "split": "train",
            "tag": [1 - k % 2 for k in range(len(names))],
        }
    ).to_csv(folder / "split.csv", index=False)
    build_audio_cache(folder / "split.csv", folder, folder / "audio", folder / "skipped.csv", 1)
    return {
        "synth/clips.mp3": digest(*(folder / name for name in names)),
        "synth/audio.bin": digest(folder / "audio.bin"),
    }


def train(
    root: Path,
    variant: Variant,
    mode: str,
    engine: str,
    profile: TrainingProfile,
    seeds: tuple[int, ...] = (1,),
) -> Path:
    """Train ``variant`` with ``seeds`` on the probe's data; its folder of seed folders."""
    from pipeline.training.loop import TrainingJob, train_variant

    job = TrainingJob(
        variant,
        seeds,
        "probe",
        TrainingSettings(profile, "cpu", 1, mode, engine),
        SIZES,
        AUDIO,
        EvaluationSettings(batch_size=64),
    )
    out = root / f"{variant.name}_{engine}"
    mel = root / "mel" if variant.front_end == "spectrogram" else None
    train_variant(
        job, root / "split.csv", root / "audio", mel, root / "windows.csv", out, progress=False
    )
    return out


def evaluate(root: Path, variant: Variant, variant_dir: Path, mode: str) -> dict[str, str]:
    """Evaluate every seed of a trained variant as the ``evaluate`` step does; the hashes of
    its metrics and of the clip scores they come from."""
    import torch

    from pipeline.evaluation.evaluate import evaluate_variant
    from pipeline.training.batches import load_window_source
    from pipeline.training.networks import load_trained
    from pipeline.training.predict import clip_predictions

    seeds = sorted(int(path.name.removeprefix("seed")) for path in variant_dir.glob("seed*"))
    model_dirs = {seed: variant_dir / f"seed{seed}" for seed in seeds}
    mel = root / "mel" if variant.front_end == "spectrogram" else None
    metrics = root / "metrics"
    evaluate_variant(
        variant,
        model_dirs,
        root / "split.csv",
        root / "audio",
        mel,
        root / "windows.csv",
        metrics / f"{variant.name}.json",
        metrics / f"{variant.name}_per_tag.csv",
        batch_size=64,
        device="cpu",
        numerics=mode,
    )
    windows = pd.read_csv(root / "windows.csv")
    scores, cpu = hashlib.sha256(), torch.device("cpu")
    for model_dir in model_dirs.values():
        model, config = load_trained(model_dir)
        frames = config["window_frames"]
        source = load_window_source(variant, root / "split.csv", root / "audio", mel, frames)
        _, clip_scores, _ = clip_predictions(model, source, windows, "test", 64, cpu)
        scores.update(np.ascontiguousarray(clip_scores, dtype="<f8").tobytes())
    return {
        f"evaluation/{variant.name}.json": digest(metrics / f"{variant.name}.json"),
        f"evaluation/{variant.name}_per_tag.csv": digest(metrics / f"{variant.name}_per_tag.csv"),
        f"evaluation/{variant.name}_scores": scores.hexdigest(),
    }


def table(root: Path, variants: tuple[Variant, ...]) -> dict[str, str]:
    """Table 1 of the evaluated variants, written as the ``table`` step writes it."""
    from pipeline import atomic
    from pipeline.evaluation.tables import TableInputs, build_table1

    inputs = TableInputs(("spectrogram", "raw"), variants, SIZES.raw_filters)
    atomic.write_csv(
        build_table1(inputs, root / "metrics"), root / "table1.csv", float_format="%.4f"
    )
    return {"table1.csv": digest(root / "table1.csv")}


def kernels() -> dict[str, object]:
    """The kernels this process ran: numpy's dispatch targets and its OpenBLAS core, ATen's
    capability, MKL's branch and the pinned products (what the CPU chose, or numerics forced)."""
    from pipeline.repro.numerics import numerics_fingerprint

    fingerprint = numerics_fingerprint()
    keys = ("numpy_dispatch", "openblas", "torch_cpu_capability", "mkl_branch", "pinned_products")
    return {key: fingerprint[key] for key in keys}


def main(root: Path, mode: str, scale: Scale = FULL) -> dict[str, str]:
    use_numerics(mode)  # before any tensor operation, as the pipeline's steps do
    from pipeline.features.cache import build_mel_cache
    from pipeline.features.windows import write_windows

    root.mkdir(parents=True, exist_ok=True)
    hashes = data_steps(root, scale.synth_clips, scale.synth_samples)
    write_inputs(root)
    length, stride = PAIR
    build_mel_cache(root / "audio", root / "mel", length, stride, 1024)
    write_windows(root / "audio.csv", root / "windows.csv", SAMPLE_RATE, length, stride)
    hashes["mel.bin"] = digest(root / "mel.bin")
    runs = [("spectrogram", "looped", scale.looped), ("raw", "looped", scale.looped)]
    runs.append(("raw", "packed", scale.packed))
    evaluated = []
    for front_end, engine, profile in runs:
        variant = Variant(front_end, length, stride)
        seeds = scale.seeds if engine == "looped" else (1,)
        variant_dir = train(root, variant, mode, engine, profile, seeds)
        for name in ("model.pt", "history.csv"):
            hashes[f"{variant.name}_{engine}/{name}"] = digest(variant_dir / "seed1" / name)
        if engine == "looped":
            hashes.update(evaluate(root, variant, variant_dir, mode))
            evaluated.append(variant)
    hashes.update(table(root, tuple(evaluated)))
    print(f"kernels: {json.dumps(kernels())}", file=sys.stderr)
    return {f"{scale.prefix}{name}": value for name, value in hashes.items()}


def pin() -> None:
    """Rewrite tests/reference/portability_probe.json from portable runs of both scales on
    this machine."""
    import tempfile

    import torch

    from pipeline.repro.numerics import cpu_model

    reference = Path(__file__).resolve().parents[1] / "reference" / "portability_probe.json"
    hashes = {}
    with tempfile.TemporaryDirectory() as scratch:
        for scale in (FULL, SHORT):
            hashes.update(main(Path(scratch) / (scale.prefix or "full"), "portable", scale))
    pinned = {
        "what": "tests/repro/portability_probe.py in portable mode: the bytes of every output",
        "made_by": "python tests/repro/portability_probe.py --pin",
        "cpu": cpu_model(),
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "hashes": hashes,
    }
    reference.write_text(json.dumps(pinned, indent=2) + "\n")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments == ["--pin"]:
        pin()
        sys.exit(0)
    scale = SHORT if "--short" in arguments else FULL
    arguments = [argument for argument in arguments if argument != "--short"]
    mode = arguments[1] if len(arguments) > 1 else "portable"
    print(json.dumps(main(Path(arguments[0]), mode, scale)))
