"""How many model updates per second does each way of training give, and how many hours would
the paper's protocol take on this device?

Trains networks of the grid's shapes (``all_variants`` of params.yaml, the ``model`` sizes,
minibatch and SGD of the ``paper`` profile) on synthetic in-memory data of MagnaTagATune's
shape (29.1 s clips: int16 audio at 16 kHz for raw-audio variants, fp16 rows of 128 mel bands
for spectrogram variants, 50 tags, random labels), along each path:

* ``single``: today's per-seed job, one network and one host sampler (the old loop);
* ``looped``: one job for every seed, a network per seed stepped in turn (LoopedSeeds);
* ``packed``: the seeds stacked, one vmapped step for all of them (PackedSeeds);
* ``packed_resident``: packed, with the clips on the device and windows drawn there;
* ``graphed``: packed_resident with the whole step in one CUDA graph (CUDA only);
* ``concurrent``: several variants' graphed steps, each on its own stream, forked and joined
  inside ONE captured graph (CUDA only; ``../shared/notes/gpu-training-throughput.md``: this
  worked where separately captured graphs replayed together corrupted ``torch.randint``).

Each figure is model updates per second (models x steps / seconds) of a block of
``--updates`` steps after warm-up steps (and after the graph is captured); the paths of a
variant take turns block by block, ``--repeats`` times, so a shared machine's load falls on
all of them alike; the best block counts (the median is kept too). The projection for each
path is the paper profile's hours for the whole grid, one job after another: the sum over
variants of seeds x updates / that variant's model updates per second (a variant that was not
measured takes the rate of the measured one of its front end, length and stride). Validation,
checkpoints, reading the caches from disk and start-up are not included.

    python benchmarks/train_throughput.py                  # CPU: one variant per shape, ~4 min
    python benchmarks/train_throughput.py --variants all   # every variant of the grid
    python benchmarks/train_throughput.py --quick --out /tmp/bench   # seconds, for a test

Writes reports/bench/train_throughput.json and train_throughput.md (or under ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline import atomic
from pipeline.config import Variant, all_variants, load_params
from pipeline.constants import N_MELS
from pipeline.data.synth import CLIP_SAMPLES
from pipeline.determinism import NUMERICS_MODES, configure_torch, cuda_fp32_precision
from pipeline.features.mel import n_frames
from pipeline.features.windows import raw_window_samples
from pipeline.repro.numerics import cpu_model, numerics_fingerprint
from pipeline.settings import AudioSettings, ModelSizes
from pipeline.training.batches import WindowSource
from pipeline.training.engines import LoopedSeeds, PackedSeeds, seed_networks
from pipeline.training.graph import WARMUP_STEPS, GraphedStep
from pipeline.training.networks import build_variant_model, select_device, use_device
from pipeline.training.sampling import DeviceSampler, DeviceWindows, HostSampler

REPO = Path(__file__).resolve().parents[1]
NAME = "train_throughput"
PATHS = ("single", "looped", "packed", "packed_resident", "graphed", "concurrent")
VARIANT_PATHS = PATHS[:-1]  # measured variant by variant; concurrent spans variants
CUDA_ONLY = {
    "graphed": "a CUDA graph needs a CUDA device",
    "concurrent": "CUDA streams and graphs need a CUDA device",
}
N_TAGS = 50
DATA_SEED = 2014
EXCLUDED = (
    "validation (every validate_every updates), checkpoints, reading the caches from disk "
    "and job start-up"
)
# (updates per block, warm-up steps, blocks per path, clips) by device; --quick: a test's run.
DEFAULTS = {"cpu": (25, 3, 4, 32), "cuda": (200, 10, 2, 32), "quick": (2, 1, 1, 4)}

Shape = tuple[str, int, int]


def shape_of(variant: Variant) -> Shape:
    """What decides a network's size and its input: front end, frame length and stride."""
    return (variant.front_end, variant.length, variant.stride)


@dataclass(frozen=True)
class Bench:
    """What every path shares: the device, the seeds and the paper profile's SGD."""

    device: torch.device
    seeds: list[int]
    batch_size: int
    learning_rate: float
    momentum: float
    sizes: ModelSizes
    audio: AudioSettings


@dataclass
class Runner:
    """One path of one variant (or group of variants) ready to step."""

    path: str
    models: int
    step: Callable[[], Any]
    eager_calls: int = 0  # calls before a graph is captured: warm-up must get past them


def synthetic_sources(
    variants: list[Variant], audio: AudioSettings, clips: int
) -> dict[str, WindowSource]:
    """A window source per variant over random data of MTAT's shape, all in memory: one int16
    audio array shared by the raw variants, one fp16 mel array per spectrogram (length, stride)."""
    rng = np.random.default_rng(DATA_SEED)
    labels = (rng.random((clips, N_TAGS)) < 0.1).astype(np.float32)
    tags = [f"tag{i}" for i in range(N_TAGS)]
    arrays: dict[Shape, tuple[np.ndarray, int]] = {}
    sources = {}
    for variant in variants:
        frames = audio.frames(variant.length, variant.stride)
        if variant.front_end == "raw":  # one audio cache, whatever the framing
            key: Shape = ("raw", 0, 0)
            rows, row_shape = CLIP_SAMPLES, ()
            window = raw_window_samples(frames, variant.length, variant.stride)
        else:  # a mel cache per (length, stride)
            key = shape_of(variant)
            rows, row_shape = n_frames(CLIP_SAMPLES, variant.length, variant.stride), (N_MELS,)
            window = frames
        if key not in arrays:
            shape = (clips * rows, *row_shape)
            if variant.front_end == "raw":
                data = rng.integers(-8000, 8000, size=shape, dtype=np.int16)
            else:
                data = (4.0 * rng.random(shape, dtype=np.float32)).astype(np.float16)
            arrays[key] = (data, rows)
        data, rows = arrays[key]
        index = pd.DataFrame(
            {
                "clip_id": np.arange(clips),
                "split": "train",
                "offset": np.arange(clips, dtype=np.int64) * rows,
                "count": rows,
            }
        )
        start_column = "start_sample" if variant.front_end == "raw" else "start_frame"
        sources[variant.name] = WindowSource(data, index, labels, tags, window, start_column)
    return sources


def build_runner(path: str, variant: Variant, source: WindowSource, bench: Bench) -> Runner:
    """The networks, optimisers and sampler of one path, wired as the training loop wires them."""
    device = bench.device
    seeds = bench.seeds[:1] if path == "single" else bench.seeds
    frames = bench.audio.frames(variant.length, variant.stride)
    networks = seed_networks(
        lambda: build_variant_model(variant, frames, N_TAGS, bench.sizes).to(device), seeds
    )
    engine_type = LoopedSeeds if path in ("single", "looped") else PackedSeeds
    engine = engine_type(networks, bench.learning_rate, bench.momentum)
    rows = source.rows_of("train")
    if path in ("single", "looped", "packed"):
        sampler: HostSampler | DeviceSampler = HostSampler(source, rows, seeds, bench.batch_size)
    else:
        windows = DeviceWindows(source, rows, device)
        sampler = DeviceSampler(windows, len(seeds), bench.batch_size)
    loss = torch.nn.BCEWithLogitsLoss()

    def step() -> torch.Tensor:
        inputs, targets = sampler(device)
        return engine.step(inputs, targets, loss)

    if path == "graphed":
        return Runner(path, len(seeds), GraphedStep(step, variant.name), WARMUP_STEPS)
    return Runner(path, len(seeds), step)


class ForkedGraph:
    """Several steps in ONE CUDA graph, each on its own stream, forked from the capturing
    stream and joined back into it: the GPU runs small models side by side.

    Like :class:`GraphedStep`: the first calls run eagerly (SGD makes its momentum buffers,
    which capture must not allocate), then one call is captured and later calls replay it.
    """

    def __init__(self, steps: list[Callable[[], Any]]) -> None:
        self.steps = steps
        self.streams = [torch.cuda.Stream() for _ in steps]
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: list[Any] = []

    def _forked(self) -> list[Any]:
        origin = torch.cuda.current_stream()
        outputs = []
        for stream, step in zip(self.streams, self.steps, strict=True):
            stream.wait_stream(origin)
            with torch.cuda.stream(stream):
                outputs.append(step())
        for stream in self.streams:
            origin.wait_stream(stream)
        return outputs

    def __call__(self) -> list[Any]:
        self.calls += 1
        if self.calls <= WARMUP_STEPS:
            return self._forked()
        if self.graph is None:
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.outputs = self._forked()
            self.graph = graph
        self.graph.replay()
        return self.outputs


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    runners: list[Runner], warmup: int, updates: int, repeats: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds of each block of ``updates`` steps, by path; the paths take turns block by block."""
    for runner in runners:
        for _ in range(max(warmup, runner.eager_calls + 1)):
            runner.step()
    synchronize(device)
    seconds: dict[str, list[float]] = {runner.path: [] for runner in runners}
    for _ in range(repeats):
        for runner in runners:
            synchronize(device)
            start = time.perf_counter()
            for _ in range(updates):
                runner.step()
            synchronize(device)
            seconds[runner.path].append(time.perf_counter() - start)
    return seconds


def row(variants: list[str], runner: Runner, seconds: list[float], updates: int) -> dict[str, Any]:
    """One measurement: steps (updates of each model) per second and model updates per second."""
    best, median = updates / min(seconds), updates / statistics.median(seconds)
    return {
        "variants": variants,
        "path": runner.path,
        "models": runner.models,
        "block_seconds": [round(s, 4) for s in seconds],
        "updates_per_s_per_model": round(best, 2),
        "updates_per_s_per_model_median": round(median, 2),
        "model_updates_per_s": round(best * runner.models, 2),
        "model_updates_per_s_median": round(median * runner.models, 2),
    }


def bench_variant(
    variant: Variant,
    source: WindowSource,
    paths: list[str],
    bench: Bench,
    counts: tuple[int, int, int],
) -> list[dict[str, Any]]:
    """Every path of one variant, taking turns block by block."""
    updates, warmup, repeats = counts
    runners = [build_runner(path, variant, source, bench) for path in paths]
    seconds = measure(runners, warmup, updates, repeats, bench.device)
    rows = [row([variant.name], r, seconds[r.path], updates) for r in runners]
    for entry in rows:
        entry["shape"] = list(shape_of(variant))
    return rows


def bench_concurrent(
    variants: list[Variant],
    sources: dict[str, WindowSource],
    group_size: int,
    bench: Bench,
    counts: tuple[int, int, int],
) -> list[dict[str, Any]]:
    """Groups of ``group_size`` variants, each group's packed resident steps in one graph."""
    updates, warmup, repeats = counts
    rows = []
    for first in range(0, len(variants), group_size):
        group = variants[first : first + group_size]
        parts = [build_runner("packed_resident", v, sources[v.name], bench) for v in group]
        runner = Runner(
            "concurrent",
            sum(part.models for part in parts),
            ForkedGraph([part.step for part in parts]),
            WARMUP_STEPS,
        )
        seconds = measure([runner], warmup, updates, repeats, bench.device)
        rows.append(row([v.name for v in group], runner, seconds["concurrent"], updates))
        del parts, runner
        torch.cuda.empty_cache()
    return rows


def project(rows: list[dict], grid: list[Variant], seeds: int, updates: int) -> dict[str, Any]:
    """Hours of the profile for the whole grid, by path, one job (or graph) after another."""
    total = len(grid) * seeds * updates
    projection: dict[str, Any] = {"model_updates": total, "excludes": EXCLUDED, "paths": {}}
    for path in dict.fromkeys(r["path"] for r in rows):
        measured = [r for r in rows if r["path"] == path]
        if path == "concurrent":  # groups replayed one after another
            models = sum(r["models"] for r in measured)
            rate = models / sum(r["models"] / r["model_updates_per_s"] for r in measured)
            covered = sum(len(r["variants"]) for r in measured)
            seconds = total / rate
        else:
            by_name = {r["variants"][0]: r for r in measured}
            by_shape = {tuple(r["shape"]): r for r in reversed(measured)}
            seconds, covered = 0.0, 0
            for variant in grid:
                match = by_name.get(variant.name) or by_shape.get(shape_of(variant))
                if match is not None:
                    seconds += seeds * updates / match["model_updates_per_s"]
                    covered += 1
            if covered < len(grid):
                seconds *= len(grid) / max(covered, 1)  # the rest as fast on average
        projection["paths"][path] = {
            "hours": round(seconds / 3600, 2),
            "variants_covered": covered,
            "variants_in_grid": len(grid),
        }
    if "single" in projection["paths"]:
        single_hours = projection["paths"]["single"]["hours"]
        for figures in projection["paths"].values():
            figures["speedup_over_single"] = round(single_hours / figures["hours"], 2)
    return projection


def machine(device: torch.device) -> dict[str, Any]:
    cuda = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "device_type": device.type,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_fp32_precision": cuda_fp32_precision(),
        "numerics_fingerprint": numerics_fingerprint(),
    }


def pick_variants(
    grid: list[Variant], names: list[str] | None, device: torch.device
) -> list[Variant]:
    """``names`` (or ``all``); by default every variant on CUDA and on a CPU one per shape."""
    if names == ["all"] or (names is None and device.type == "cuda"):
        return grid
    if names is None:
        first_of_shape: dict[Shape, Variant] = {}
        for variant in grid:
            first_of_shape.setdefault(shape_of(variant), variant)
        return list(first_of_shape.values())
    known = {v.name: v for v in grid}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; params.yaml defines: {', '.join(known)}")
    return [known[n] for n in names]


def write_report(report: dict[str, Any], out: Path) -> None:
    """``out``/train_throughput.{json,md}; prints the Markdown."""
    atomic.write_text(out / f"{NAME}.json", json.dumps(report, indent=2) + "\n")
    host, settings = report["machine"], report["settings"]
    paths = [p for p in VARIANT_PATHS if p not in report["skipped"] and p in settings["paths"]]
    lines = [
        "# Training throughput: model updates per second by path",
        "",
        f"Device: {host['device']} ({host['device_type']}; host CPU {host['cpu_model']}, "
        f"{host['cpu_count']} CPUs). Python {host['python']}, torch {host['torch']}, "
        f"numpy {host['numpy']}"
        + (
            f", CUDA {host['cuda']}, cuDNN {host['cudnn']}, float32 products and convolutions "
            f"in {host['cuda_fp32_precision']}"
            if host["cuda"]
            else ""
        )
        + f". Numerics {settings['numerics']}, {settings['threads']} torch thread(s). "
        f"Load average at start / end: {report['load_average_at_start']} / "
        f"{report['load_average_at_end']}.",
        "",
        f"Synthetic data of MTAT's shape ({settings['clips']} clips of 29.1 s, {N_TAGS} tags), "
        f"the `{settings['profile']}` profile's minibatch {settings['batch_size']}, seeds "
        f"{settings['seeds']}. Best of {settings['repeats']} block(s) of {settings['updates']} "
        f"steps after {settings['warmup']} warm-up steps, the paths taking turns.",
        "",
        "Model updates per second, summed over the job's models (per model in brackets):",
        "",
        "| variant | " + " | ".join(paths) + " |",
        "| --- |" + " ---: |" * len(paths),
    ]
    rows = report["rows"]
    for name in dict.fromkeys(r["variants"][0] for r in rows if r["path"] != "concurrent"):
        cells = {r["path"]: r for r in rows if r["variants"] == [name]}
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{cells[p]['model_updates_per_s']:.1f} ({cells[p]['updates_per_s_per_model']:.1f})"
                for p in paths
            )
            + " |"
        )
    for r in rows:
        if r["path"] == "concurrent":
            lines.append(
                f"\nconcurrent, {len(r['variants'])} variants ({r['models']} models) in one "
                f"graph: {r['model_updates_per_s']:.1f} model updates/s summed "
                f"({r['updates_per_s_per_model']:.1f} per model)."
            )
    if "single" in paths:
        lines += [
            "",
            "Model updates per second relative to `single` (one seed per job): above 1, a "
            "model update costs less than in today's loop (range over the variants):",
            "",
        ]
        for path in paths[1:]:
            ratios = [
                r["model_updates_per_s"] / s["model_updates_per_s"]
                for r in rows
                for s in rows
                if r["path"] == path and s["path"] == "single" and r["variants"] == s["variants"]
            ]
            lines.append(f"- {path}: {min(ratios):.2f}x to {max(ratios):.2f}x")
    projection = report["projection"]
    lines += [
        "",
        f"Projected hours of the `{settings['profile']}` profile for params.yaml's grid "
        f"({projection['model_updates']:,} model updates: {settings['grid_variants']} variants "
        f"x {len(settings['seeds'])} seeds x {settings['profile_updates']:,} updates), one job "
        f"after another on this device; excludes {projection['excludes']}:",
        "",
        "| path | hours | speed-up over single | variants with a rate / in grid |",
        "| --- | ---: | ---: | --- |",
    ]
    for path, figures in projection["paths"].items():
        speedup = figures.get("speedup_over_single")
        lines.append(
            f"| {path} | {figures['hours']:,.1f} | "
            + (f"{speedup:.2f}x" if speedup else "-")
            + f" | {figures['variants_covered']} / {figures['variants_in_grid']} |"
        )
    lines += [
        "",
        "A variant not measured takes the rate of the measured one with its front end, length "
        "and stride (pooling, nonlinearity and initialisation change little of a step).",
    ]
    for path, reason in report["skipped"].items():
        lines.append(f"\nSkipped `{path}`: {reason}.")
    atomic.write_text(out / f"{NAME}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def parse_args(argv: list[str] | None, params: dict[str, Any]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--numerics", choices=NUMERICS_MODES, default=params["numerics"])
    parser.add_argument("--threads", type=int, default=params["training"]["threads"])
    parser.add_argument("--profile", default="paper", choices=params["training"]["profiles"])
    parser.add_argument("--updates", type=int, help="steps per timed block")
    parser.add_argument("--warmup", type=int, help="steps before timing")
    parser.add_argument("--repeats", type=int, help="timed blocks per path")
    parser.add_argument("--clips", type=int, help="synthetic 29.1 s clips")
    parser.add_argument("--variants", nargs="+", help="names, or 'all' (default: see docstring)")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--group-size", type=int, help="variants per concurrent graph (all)")
    parser.add_argument("--quick", action="store_true", help="tiny counts, two shapes (a test)")
    parser.add_argument("--out", type=Path, default=REPO / "reports/bench")
    return parser.parse_args(argv)


def setup_device(requested: str, numerics: str, threads: int) -> torch.device:
    """The device first, then the numerics for it, as training sets up: on a GPU, a CPU whose
    kernels cannot be pinned is noted and the run goes on (the networks' bits are the GPU's);
    then the device is made current, so graphs and streams are made on it."""
    device = select_device(requested, "--device")  # no tensor operation
    configure_torch(numerics, threads, device=str(device))  # before the first tensor operation
    use_device(device, "--device")
    return device


def main(argv: list[str] | None = None) -> int:
    params = load_params(REPO / "params.yaml")
    args = parse_args(argv, params)
    device = setup_device(args.device, args.numerics, args.threads)
    defaults = DEFAULTS["quick" if args.quick else device.type]
    given = (args.updates, args.warmup, args.repeats, args.clips)
    updates, warmup, repeats, clips = (
        g if g is not None else d for g, d in zip(given, defaults, strict=True)
    )
    profile = params["training"]["profiles"][args.profile]
    bench = Bench(
        device,
        list(params["experiments"]["seeds"]),
        profile["batch_size"],
        profile["learning_rate"],
        profile["momentum"],
        ModelSizes.from_params(params),
        AudioSettings.from_params(params),
    )
    grid = all_variants(params)
    variants = pick_variants(grid, args.variants, device)
    if args.quick and args.variants is None:
        variants = [next(v for v in variants if v.front_end == f) for f in ("spectrogram", "raw")]
    skipped = {p: r for p, r in CUDA_ONLY.items() if device.type != "cuda" and p in args.paths}
    paths = [p for p in args.paths if p not in skipped]
    sources = synthetic_sources(variants, bench.audio, clips)
    load_at_start = os.getloadavg()
    counts = (updates, warmup, repeats)
    rows = []
    for variant in variants:
        print(f"{variant.name}: {', '.join(p for p in paths if p != 'concurrent')}", flush=True)
        per_variant = [p for p in paths if p != "concurrent"]
        rows += bench_variant(variant, sources[variant.name], per_variant, bench, counts)
        synchronize(device)
    if "concurrent" in paths:
        print(f"concurrent: {len(variants)} variants", flush=True)
        group = args.group_size or len(variants)
        rows += bench_concurrent(variants, sources, group, bench, counts)
    report = {
        "machine": machine(device),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "settings": {
            "numerics": args.numerics,
            "threads": args.threads,
            "profile": args.profile,
            "profile_updates": profile["updates"],
            "batch_size": bench.batch_size,
            "learning_rate": bench.learning_rate,
            "momentum": bench.momentum,
            "seeds": bench.seeds,
            "updates": updates,
            "warmup": warmup,
            "repeats": repeats,
            "clips": clips,
            "paths": paths,
            "variants": [v.name for v in variants],
            "grid_variants": len(grid),
            "concurrent_group_size": (
                args.group_size or len(variants) if "concurrent" in paths else None
            ),
            "model": bench.sizes.to_dict(),
        },
        "skipped": skipped,
        "rows": rows,
        "projection": project(rows, grid, len(bench.seeds), profile["updates"]),
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
