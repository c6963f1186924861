"""How much faster than real time does ``e2e-tag`` run on one CPU core?

Makes a deterministic synthetic recording (default 10 minutes, 16 kHz mono, as WAV and as
MP3), then times, with one thread and the process pinned to one core, in the numerics of
params.yaml (set before the first tensor operation, as ``e2e-tag`` does, so the network runs
the kernels ``tag_files`` runs):

* decode: :func:`pipeline.data.audio.decode_clip` of the WAV and of the MP3;
* inference, per model: features (mel-spectrogram or raw window cutting) and the network's
  forward passes over all consecutive windows, separately and together;
* end to end: :func:`pipeline.tagging.tag_files` on each file (model load, decode,
  inference);
* after torch work: ``tag_files`` on the WAV in a child process whose first tensor
  operation ran before it, so its kernels are not the model's and each call scores in a
  fresh worker process (:mod:`pipeline.tagging.worker`: the worker's start included).

Each figure is the best of ``--repeats`` runs (the machine may be shared; the median is also
kept). Models come from ``--model-root`` (default models/synth) when trained; otherwise an
untrained network with the same config.json format is built in a temporary folder, so the
benchmark never needs the pipeline to have run (speed does not depend on the weights).

    python benchmarks/tag_throughput.py [--minutes 10] [--variants spectrogram_512_256 ...]

Writes tag_throughput.json and tag_throughput.md into ``--out`` (default reports/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from threadpoolctl import threadpool_limits

from pipeline.config import (
    Variant,
    find_variant,
    frames_per_window,
    load_params,
    window_length_samples,
)
from pipeline.constants import SAMPLE_RATE
from pipeline.data.audio import decode_clip
from pipeline.determinism import configure_torch
from pipeline.repro.numerics import cpu_model
from pipeline.settings import ModelSizes
from pipeline.tagging import tag_files
from pipeline.tagging.inference import window_features
from pipeline.tagging.models import load_models, model_dirs
from pipeline.training.networks import build_variant_model, network_config, save_trained

REPO = Path(__file__).resolve().parents[1]
TARGET_X_REAL_TIME = 1000.0
DEFAULT_VARIANTS = ["spectrogram_512_256", "raw_1024_1024"]
STAGES = (
    "features",
    "network",
    "inference",
    "end_to_end_wav",
    "end_to_end_mp3",
    "after_torch_work_wav",
)


def synthetic_music(seconds: float, seed: int = 2014) -> np.ndarray:
    """A deterministic 'song': a melody of two-note chords on a beat, with a little noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    beat = 0.5  # seconds
    notes = 220.0 * 2 ** (rng.integers(0, 24, size=int(seconds / beat) + 1) / 12)
    pitch = notes[(t / beat).astype(int)]
    envelope = np.exp(-4.0 * (t % beat))
    audio = envelope * (np.sin(2 * np.pi * pitch * t) + 0.5 * np.sin(2 * np.pi * 1.5 * pitch * t))
    audio = 0.25 * audio + 0.02 * rng.standard_normal(n)
    return audio.astype(np.float32)


def model_dir_for(variant: str, model_root: Path, scratch: Path) -> tuple[Path, str]:
    """A trained model dir (or a folder of seeds, as e2e-tag takes it) if there is one, else
    an untrained one in the same format."""
    trained = model_root / variant
    if trained.is_dir() and all((d / "model.pt").is_file() for d in model_dirs(trained)):
        return trained, "trained"
    params = load_params(REPO / "params.yaml")
    fields = find_variant(params, variant).to_dict()
    frames = frames_per_window(window_length_samples(params), fields["length"], fields["stride"])
    tags = [f"tag{i}" for i in range(params["split"]["n_tags"])]
    torch.manual_seed(0)
    model = build_variant_model(fields, frames, len(tags), params["model"])
    folder = scratch / variant
    folder.mkdir(parents=True)
    config = {
        **network_config(
            Variant(**fields),
            frames,
            tags,
            ModelSizes(**params["model"]),
            params["audio"]["min_n_fft"],
        ),
        "training": {"profile": "untrained (benchmark)", "seed": 0},
        "dataset": "none",
        "numerics": params["numerics"],
        "best_valid_auc": None,
        "best_update": 0,
    }
    save_trained(folder, model.state_dict(), config)
    return folder, "untrained"


def timed(function: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Best and median wall-clock seconds over ``repeats`` runs (after one warm-up run)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return {"best_s": min(times), "median_s": statistics.median(times)}


def speed(seconds: dict[str, float], audio_seconds: float) -> dict[str, float]:
    """Add x-real-time figures (audio duration / processing time)."""
    return {
        **{k: round(v, 5) for k, v in seconds.items()},
        "x_real_time": round(audio_seconds / seconds["best_s"], 1),
        "x_real_time_median": round(audio_seconds / seconds["median_s"], 1),
    }


def bench_model(
    model_dir: Path, audio: np.ndarray, files: dict[str, Path], batch_size: int, repeats: int
) -> dict[str, Any]:
    """Features, network and end-to-end timings of one model on the long recording."""
    models, config = load_models(model_dir, "cpu")
    duration = len(audio) / SAMPLE_RATE
    chunks = list(window_features(audio, config))
    windows = np.concatenate(chunks)
    batches = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]

    def features() -> None:
        for _ in window_features(audio, config):
            pass

    @torch.no_grad()
    def network() -> None:  # a folder of seeds is an ensemble: every model sees every batch
        for batch in batches:
            sum(torch.sigmoid(model(torch.from_numpy(batch))) for model in models)

    @torch.no_grad()
    def inference() -> None:  # what tag_files does after decoding: features, then batches
        inputs = torch.from_numpy(np.concatenate(list(window_features(audio, config))))
        for start in range(0, len(inputs), batch_size):
            sum(torch.sigmoid(model(inputs[start : start + batch_size])) for model in models)

    result = {
        "variant": config["variant"],
        "front_end": config["front_end"],
        "models_averaged": len(models),
        "windows": len(windows),
        "features": speed(timed(features, repeats), duration),
        "network": speed(timed(network, repeats), duration),
        "inference": speed(timed(inference, repeats), duration),
    }
    for kind, path in files.items():
        run = lambda path=path: tag_files(model_dir, [path], batch_size=batch_size, device="cpu")  # noqa: E731
        result[f"end_to_end_{kind}"] = speed(timed(run, repeats), duration)
    seconds = after_torch_work(model_dir, files["wav"], batch_size, repeats)
    result["after_torch_work_wav"] = speed(seconds, duration)
    return result


AFTER_TORCH_WORK = """
import json, statistics, sys, time, torch
from pipeline.tagging import tag_files
torch.ones(64, 64) @ torch.ones(64, 64)  # torch work first: this process keeps its kernels
model_dir, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(repeats + 1):  # the first is a warm-up, as in timed()
    start = time.perf_counter()
    tag_files(model_dir, [path], batch_size=int(sys.argv[4]), device="cpu")
    times.append(time.perf_counter() - start)
print(json.dumps({"best_s": min(times[1:]), "median_s": statistics.median(times[1:])}))
"""


def after_torch_work(model_dir: Path, path: Path, batch_size: int, repeats: int) -> dict:
    """Best and median seconds of ``tag_files`` in a process whose kernels were chosen
    before it (a child on this core; ATen's plain kernels, so no CPU can switch)."""
    environment = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "-c", AFTER_TORCH_WORK, str(model_dir), str(path), str(repeats)]
        + [str(batch_size)],
        env=environment,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tag_files after torch work failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
    }


def write_markdown(report: dict[str, Any], path: Path) -> None:
    settings = report["settings"]
    lines = [
        "# Tagging throughput (one CPU core)",
        "",
        f"{settings['minutes']} min synthetic recording, batch size {settings['batch_size']}, "
        f"torch threads {settings['torch_threads']}, pinned to CPU {settings['pinned_cpu']}, "
        f"best of {settings['repeats']}, {settings['numerics']} numerics. Machine: "
        f"{report['machine']['cpu_model']}, {report['machine']['platform']}, "
        f"{report['machine']['cpu_count']} CPUs, torch {report['machine']['torch']}; load "
        f"average at the start {settings['load_average_at_start']}.",
        "",
        "x real time = audio duration / processing time (higher is faster; target "
        f"{TARGET_X_REAL_TIME:.0f}x).",
        "",
        "| stage | x real time | best s |",
        "|---|---:|---:|",
    ]
    for kind, figures in report["decode"].items():
        lines.append(f"| decode {kind} | {figures['x_real_time']:.0f} | {figures['best_s']:.3f} |")
    for model in report["models"]:
        seeds = f", {model['models_averaged']} seeds" if model["models_averaged"] > 1 else ""
        name = f"{model['variant']} ({model['source']}{seeds})"
        for stage in STAGES:
            lines.append(
                f"| {name}: {stage.replace('_', ' ')} | {model[stage]['x_real_time']:.0f} |"
                f" {model[stage]['best_s']:.3f} |"
            )
    lines += [
        "",
        f"Inference meets the {TARGET_X_REAL_TIME:.0f}x target: {report['meets_target']}.",
        "",
        "after torch work wav: `tag_files` in a process that ran a tensor operation first, so "
        "each call tags in a fresh worker process (its start included).",
    ]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    parser.add_argument("--model-root", type=Path, default=REPO / "models" / "synth")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports/bench", help="folder for the reports"
    )
    args = parser.parse_args(argv)

    load_average = os.getloadavg()
    numerics = load_params(REPO / "params.yaml")["numerics"]
    configure_torch(numerics, threads=1)  # before any tensor operation, as e2e-tag does
    threadpool_limits(1)  # numpy's BLAS (the mel filterbank product) on one thread too
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        audio = synthetic_music(args.minutes * 60)
        files = {"wav": scratch / "long.wav", "mp3": scratch / "long.mp3"}
        sf.write(files["wav"], audio, SAMPLE_RATE, subtype="PCM_16")
        sf.write(files["mp3"], audio, SAMPLE_RATE, format="MP3")
        duration = len(audio) / SAMPLE_RATE
        decode = {
            kind: speed(timed(lambda p=path: decode_clip(p), args.repeats), duration)
            for kind, path in files.items()
        }
        models = []
        for variant in args.variants:
            model_dir, source = model_dir_for(variant, args.model_root, scratch)
            print(f"benchmarking {variant} ({source}: {model_dir})", file=sys.stderr)
            decoded = decode_clip(files["wav"])
            figures = bench_model(model_dir, decoded, files, args.batch_size, args.repeats)
            models.append({"source": source, "model_dir": str(model_dir), **figures})

    report = {
        "machine": machine(),
        "settings": {
            "minutes": args.minutes,
            "audio_seconds": duration,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "numerics": numerics,
            "load_average_at_start": [round(x, 2) for x in load_average],
            "torch_threads": torch.get_num_threads(),
            "blas_threads": 1,  # threadpoolctl
            "pinned_cpu": pinned,
            "files": {"wav": "16 kHz mono PCM_16", "mp3": "16 kHz mono MPEG layer III"},
        },
        "target_x_real_time": TARGET_X_REAL_TIME,
        "decode": decode,
        "models": models,
        "meets_target": all(m["inference"]["x_real_time"] >= TARGET_X_REAL_TIME for m in models),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tag_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, args.out / "tag_throughput.md")
    print((args.out / "tag_throughput.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
