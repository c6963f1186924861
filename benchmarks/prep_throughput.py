"""How long does cache preparation take next to decoding alone, and how much memory?

The target: every cache of MTAT's size (the int16 audio cache and the five mel caches of
Table 1) in at most 1.5x the time of decoding alone on the same machine, with a peak RAM of
at most 4 GB whatever the dataset size.

Writes ``--clips`` synthetic 29.1 s, 16 kHz mono mp3 clips (the embedded generator's, so they
sound and compress like the default dataset) into a temporary folder, then, for each number
of clips, runs each phase in its own child process so phases cannot share warm state or
memory:

* ``decode``: the decode step's worker function over every clip, on the same process pool,
  results thrown away (decoding alone: no cache written);
* ``full``: :func:`build_audio_cache`, then :func:`build_mel_cache` for every pair of
  ``experiments.table1`` in params.yaml (the Snakemake rules' work, one after another);
* ``torch_mels`` (when :mod:`pipeline.features.mel_torch` exists): the five mel-spectrograms
  of the first 32 cached clips with torch, on the CPU, with ``--workers`` threads, not written.

Peak memory is read two ways from /proc while a phase runs: the sum of the resident sets of its
whole process tree, sampled every 20 ms (shared library pages count once per process, so it
over-states), and the largest peak resident set (VmHWM) of one of its processes. Seconds per
clip are projected to MTAT's 25,863 clips.

    python benchmarks/prep_throughput.py [--clips 64 256] [--workers 2]

Writes reports/bench/prep_throughput.json and prep_throughput.md (or under ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import load_params
from pipeline.constants import SAMPLE_RATE
from pipeline.repro.numerics import cpu_model, numerics_fingerprint
from pipeline.settings import AudioSettings

REPO = Path(__file__).resolve().parents[1]
MTAT_CLIPS = 25_863
TARGET_RATIO = 1.5
TARGET_PEAK_GB = 4.0
SEED = 2014
RSS_SAMPLE_SECONDS = 0.02
TORCH_CLIPS = 32
"""Clips the torch_mels phase times: on a CPU it is slow, and only its speed per clip matters."""


def _params() -> dict[str, Any]:
    return load_params(REPO / "params.yaml")


def table1_pairs() -> list[tuple[int, int]]:
    """The (length, stride) pairs of the five mel caches."""
    return [(p["length"], p["stride"]) for p in _params()["experiments"]["table1"]]


def has_torch_mels() -> bool:
    try:
        import pipeline.features.mel_torch  # noqa: F401
    except ImportError:
        return False
    return True


def write_clips(folder: Path, n_clips: int, workers: int) -> list[str]:
    """Render ``n_clips`` synthetic mp3 clips into ``folder``; their names, in order."""
    from pipeline.data.synth.writer import tune_malloc, write_clip

    names = [f"clip_{i:05d}.mp3" for i in range(n_clips)]
    jobs = [(SEED, i, str(folder / name)) for i, name in enumerate(names)]
    with ProcessPoolExecutor(max_workers=workers, initializer=tune_malloc) as pool:
        list(pool.map(write_clip, jobs, chunksize=2))
    return names


def write_split(path: Path, names: list[str]) -> None:
    """A split.csv naming the clips (the columns the decode step reads)."""
    split = pd.DataFrame(
        {"clip_id": range(len(names)), "mp3_path": names, "split": "train", "part": "0"}
    )
    split.to_csv(path, index=False)


# --- phases: each runs in a child process (``--phase``) and prints its timings as JSON ------


def run_decode(scratch: Path, workers: int) -> dict[str, float]:
    from pipeline.data.split import read_split
    from pipeline.features.cache import _decode_task, _parallel_map

    split = read_split(scratch / "split.csv")
    min_samples = AudioSettings.from_params(_params()).window_samples
    tasks = [(str(scratch / "mp3" / p), min_samples) for p in split["mp3_path"]]
    start = time.perf_counter()
    for audio, reason, _ in _parallel_map(_decode_task, tasks, workers, "decode only"):
        if audio is None:
            raise RuntimeError(f"a synthetic clip was rejected: {reason}")
    return {"decode": time.perf_counter() - start}


def run_full(scratch: Path, workers: int) -> dict[str, float]:
    from pipeline.features.cache import build_audio_cache, build_mel_cache

    audio = AudioSettings.from_params(_params())
    out = scratch / "caches"
    out.mkdir(exist_ok=True)
    seconds = {}
    start = time.perf_counter()
    build_audio_cache(
        scratch / "split.csv",
        scratch / "mp3",
        out / "audio",
        out / "skipped.csv",
        audio.window_samples,
        workers,
    )
    seconds["audio cache"] = time.perf_counter() - start
    for length, stride in table1_pairs():
        begin = time.perf_counter()
        build_mel_cache(
            out / "audio", out / f"mel_{length}_{stride}", length, stride, audio.min_n_fft, workers
        )
        seconds[f"mel {length}/{stride}"] = time.perf_counter() - begin
    seconds["full"] = time.perf_counter() - start
    return seconds


def run_torch_mels(scratch: Path, workers: int) -> dict[str, float]:
    import numpy as np
    import torch

    from pipeline.features.cache import open_cache
    from pipeline.features.mel_torch import log_mel_spectrogram_torch

    torch.set_num_threads(workers)
    min_n_fft = AudioSettings.from_params(_params()).min_n_fft
    data, index = open_cache(scratch / "caches" / "audio", "<i2")
    pairs = table1_pairs()
    start = time.perf_counter()
    for offset, count in index[["offset", "count"]].head(TORCH_CLIPS).itertuples(index=False):
        audio = torch.from_numpy(np.array(data[offset : offset + count]))
        for length, stride in pairs:
            log_mel_spectrogram_torch(audio, length, stride, min_n_fft).to(torch.float16)
    return {"torch_mels": time.perf_counter() - start}


PHASES = {"decode": run_decode, "full": run_full, "torch_mels": run_torch_mels}


# --- the parent: child processes and their memory ---------------------------------------------


def tree_memory(root: int) -> tuple[int, int]:
    """(resident bytes now, largest peak resident bytes of one process) of ``root`` and all its
    descendants, from /proc (Linux). A process's peak (VmHWM) belongs to its own address space,
    so unlike ``ru_maxrss`` it does not inherit the resident set of the process that exec'd it.
    """
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue  # the process ended while we looked
    total, peak, frontier = 0, 0, [root]
    while frontier:
        pid = frontier.pop()
        frontier += [child for child, parent in parents.items() if parent == pid]
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        kib = {
            k: int(v.split()[0])
            for k, v in (line.split(":", 1) for line in status)
            if k in ("VmRSS", "VmHWM")
        }
        total += kib.get("VmRSS", 0) * 1024
        peak = max(peak, kib.get("VmHWM", 0) * 1024)
    return total, peak


def measure_phase(phase: str, scratch: Path, workers: int) -> dict[str, Any]:
    """Run ``phase`` in a child process, sampling its tree's memory while it runs."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--phase", phase, "--scratch", str(scratch)]
        + ["--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peak_tree = peak_process = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_process
        while not done.is_set():
            tree, process = tree_memory(child.pid)
            peak_tree, peak_process = max(peak_tree, tree), max(peak_process, process)
            time.sleep(RSS_SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, _ = child.communicate()
    done.set()
    sampler.join()
    if child.returncode:
        raise RuntimeError(f"phase {phase} failed with exit status {child.returncode}")
    return {
        "seconds": json.loads(stdout),
        "peak_tree_rss_mb": peak_tree / 2**20,
        "max_process_rss_mb": peak_process / 2**20,
    }


def bench(n_clips: int, clip_folder: Path, names: list[str], workers: int) -> dict[str, Any]:
    """Every phase on the first ``n_clips`` clips."""
    with tempfile.TemporaryDirectory(prefix="prep-", dir=clip_folder.parent) as scratch_dir:
        scratch = Path(scratch_dir)
        (scratch / "mp3").symlink_to(clip_folder)
        write_split(scratch / "split.csv", names[:n_clips])
        phases = [p for p in PHASES if p != "torch_mels" or has_torch_mels()]
        results = {}
        for phase in phases:
            print(f"{n_clips} clips: {phase} ...", flush=True)
            results[phase] = measure_phase(phase, scratch, workers)
    decode = results["decode"]["seconds"]["decode"]
    full = results["full"]["seconds"]["full"]
    summary = {
        "clips": n_clips,
        "phases": results,
        "decode_s_per_clip": decode / n_clips,
        "full_s_per_clip": full / n_clips,
        "ratio_full_to_decode": full / decode,
        "projected_mtat_decode_min": decode / n_clips * MTAT_CLIPS / 60,
        "projected_mtat_full_min": full / n_clips * MTAT_CLIPS / 60,
    }
    if "torch_mels" in results:
        torch_mels = results["torch_mels"]["seconds"]["torch_mels"] / min(n_clips, TORCH_CLIPS)
        audio_cache = results["full"]["seconds"]["audio cache"] / n_clips
        summary["torch_mels_s_per_clip"] = torch_mels
        summary["ratio_audio_cache_plus_torch_mels_to_decode"] = (
            audio_cache + torch_mels
        ) / summary["decode_s_per_clip"]
    return summary


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": "none used (the CPU path)",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numerics": numerics_fingerprint(),
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    """reports/bench/prep_throughput.{json,md}; prints the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "prep_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    settings, host = report["settings"], report["machine"]
    lines = [
        "# Cache preparation throughput (decode alone vs every cache)",
        "",
        f"Synthetic {settings['clip_seconds']} s, {SAMPLE_RATE} Hz mono mp3 clips; "
        f"{settings['workers']} worker process(es); mel pairs {settings['mel_pairs']}. "
        f"Machine: {host['cpu_model']}, {host['cpu_count']} CPUs, {host['platform']}, "
        f"numpy {host['numerics']['numpy']} (OpenBLAS {host['numerics']['openblas']}), "
        f"torch {host['numerics']['torch']}, libsndfile {host['numerics']['libsndfile']}. "
        f"Load average at start: {report['load_average_at_start']}.",
        "",
        f"Target: full / decode <= {TARGET_RATIO}, peak RAM <= {TARGET_PEAK_GB} GB.",
        "",
        "| clips | decode s/clip | full s/clip | full / decode | MTAT decode min "
        "| MTAT full min | peak tree RSS decode / full MB | max process RSS decode / full MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        decode, full = run["phases"]["decode"], run["phases"]["full"]
        lines.append(
            f"| {run['clips']} | {run['decode_s_per_clip']:.4f} | {run['full_s_per_clip']:.4f} "
            f"| {run['ratio_full_to_decode']:.2f} | {run['projected_mtat_decode_min']:.1f} "
            f"| {run['projected_mtat_full_min']:.1f} "
            f"| {decode['peak_tree_rss_mb']:.0f} / {full['peak_tree_rss_mb']:.0f} "
            f"| {decode['max_process_rss_mb']:.0f} / {full['max_process_rss_mb']:.0f} |"
        )
    steps = list(report["runs"][-1]["phases"]["full"]["seconds"])
    lines += [
        "",
        "Where the full preparation's time goes (seconds per clip):",
        "",
        "| clips | " + " | ".join(steps) + " |",
        "| --- |" + " --- |" * len(steps),
    ]
    for run in report["runs"]:
        seconds = run["phases"]["full"]["seconds"]
        cells = [f"{seconds[s] / run['clips']:.4f}" for s in steps]
        lines.append(f"| {run['clips']} | " + " | ".join(cells) + " |")
    if "torch_mels_s_per_clip" in report["runs"][-1]:
        lines += [
            "",
            "The five mels with torch on the CPU (pipeline.features.mel_torch, "
            f"{settings['workers']} threads, first {TORCH_CLIPS} clips, not written): seconds "
            "per clip, and audio cache plus these mels over decode alone:",
            "",
            "| clips | torch mels s/clip | (audio cache + torch mels) / decode |",
            "| --- | --- | --- |",
        ]
        for run in report["runs"]:
            lines.append(
                f"| {run['clips']} | {run['torch_mels_s_per_clip']:.4f} "
                f"| {run['ratio_audio_cache_plus_torch_mels_to_decode']:.2f} |"
            )
    (out / "prep_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[64, 256], help="clip counts")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=REPO / "reports/bench")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.scratch, args.workers)))
        return 0

    from pipeline.data.synth import CLIP_SECONDS

    report: dict[str, Any] = {
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "settings": {
            "clips": args.clips,
            "workers": args.workers,
            "clip_seconds": CLIP_SECONDS,
            "mel_pairs": table1_pairs(),
            "mtat_clips": MTAT_CLIPS,
            "rss_sample_seconds": RSS_SAMPLE_SECONDS,
        },
    }
    with tempfile.TemporaryDirectory(prefix="prep-throughput-") as scratch:
        clip_folder = Path(scratch) / "mp3"
        clip_folder.mkdir()
        print(f"writing {max(args.clips)} synthetic clips ...", flush=True)
        names = write_clips(clip_folder, max(args.clips), args.workers)
        report["runs"] = [bench(n, clip_folder, names, args.workers) for n in args.clips]
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
