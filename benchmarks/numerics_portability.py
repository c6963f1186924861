"""What do portable numerics buy, and what do they cost?

numpy, OpenBLAS, MKL, oneDNN and torch pick SIMD kernels for the CPU at run time. This script
builds a small grid of the embedded DAG with Snakemake on this machine under each numerics
mode of params.yaml (``portable``, the default, and ``native``), each time natively and with
the kernels forced to the choices other CPUs would make:

* ``avx2_cpu``: an x86-64 CPU without AVX-512 (numpy's AVX-512 loops off, torch, oneDNN and
  MKL limited to AVX2): ``NPY_DISABLE_CPU_FEATURES``, ``ATEN_CPU_CAPABILITY``,
  ``DNNL_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``;
* ``skylakex_blas``: OpenBLAS's Intel AVX-512 kernels (``OPENBLAS_CORETYPE=SkylakeX``),
  which numpy uses on Intel server CPUs.

It compares every output file with the same mode's native build, grouped by step, and times
a training update of every variant of params.yaml's grid (one thread, minibatch 10) natively,
with portable numerics (the pinned OpenBLAS products), and with portable numerics on torch's
own products (MKL's reproducible branch, what portable cost before the pinned products), and
the whole grid: the price of the same bits everywhere. This emulates other CPUs; it does not
run on them.

    python benchmarks/numerics_portability.py                 # grids and timings (~10 min)
    python benchmarks/numerics_portability.py --updates-only  # the timings alone (~6 min)

Writes reports/bench/numerics_portability.json and numerics_portability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import merge_params
from pipeline.repro.numerics import numerics_fingerprint

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "reports/bench"

# The tests' small grid: every kind of step, in about a minute per build on 2 cores.
GRID = yaml.safe_load((REPO / "tests/tiny_grid.yaml").read_text())

MODES = ("portable", "native")
BUILDS: dict[str, dict[str, str]] = {
    "host": {},
    "avx2_cpu": {
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "ATEN_CPU_CAPABILITY": "avx2",
        "DNNL_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "skylakex_blas": {"OPENBLAS_CORETYPE": "SkylakeX"},
}

# Networks whose training update is timed: every variant of params.yaml's grid (Tables 1-4).
WARMUP, TIMED_UPDATES, ROUNDS = 10, 30, 3
TIMING_MODES = ("native", "portable", "portable_torch_products")
"""``portable_torch_products``: portable numerics with torch's own (MKL COMPATIBLE) products
instead of the pinned OpenBLAS: what a portable update cost before the pinned products."""

# Output groups, in DAG order: (name, predicate on the relative path).
GROUPS = [
    ("dataset", lambda p: p.startswith("data/raw/")),
    ("split, skipped", lambda p: p.endswith(("split.csv", "skipped.csv", "audio_ready.json"))),
    ("audio cache", lambda p: "/audio." in p),
    ("window indices", lambda p: "/windows_" in p),
    ("mel caches", lambda p: "/mel_" in p),
    ("models", lambda p: p.startswith("models/") and p.endswith("model.pt")),
    ("training histories", lambda p: p.endswith("history.csv")),
    ("metrics", lambda p: p.startswith("reports/metrics/")),
    ("tables", lambda p: p.startswith("reports/table")),
    ("figures", lambda p: p.startswith("reports/figures/")),
]


def _group(path: str) -> str | None:
    return next((name for name, matches in GROUPS if matches(path)), None)


def build(workdir: Path, mode: str, env_overrides: dict[str, str]) -> tuple[dict[str, str], float]:
    """Run the grid in ``workdir`` with numerics ``mode``; md5 of every output, wall time."""
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), GRID)
    params["numerics"] = mode
    workdir.mkdir(parents=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    env = dict(os.environ, **env_overrides)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "all"]
        + ["--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)],
        env=env,
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    hashes = {}
    for root in ("data", "models", "reports"):
        for path in sorted((workdir / root).rglob("*")):
            relative = path.relative_to(workdir).as_posix()
            if path.is_file() and _group(relative) and not path.name.endswith(".partial"):
                hashes[relative] = hashlib.md5(path.read_bytes()).hexdigest()
    return hashes, seconds


def time_updates(mode: str) -> dict[str, float]:
    """ms per SGD update of every variant of the grid on random data in ``mode`` (one of
    TIMING_MODES), best of ROUNDS rounds of TIMED_UPDATES (run in a child process: the kernels
    are fixed at its first tensor operation)."""
    from pipeline import pinned_blas
    from pipeline.determinism import configure_torch

    configure_torch("native" if mode == "native" else "portable", threads=1, seed=0)
    if mode == "portable_torch_products":
        pinned_blas.deactivate()
    import torch

    from pipeline.config import all_variants, frames_per_window, window_length_samples
    from pipeline.features.windows import raw_window_samples
    from pipeline.training.networks import build_variant_model

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    window = window_length_samples(params)
    timings = {}
    for variant in all_variants(params):
        torch.manual_seed(0)
        frames = frames_per_window(window, variant.length, variant.stride)
        model = build_variant_model(variant, frames, 50, params["model"])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        if variant.front_end == "raw":  # the batches training draws: int16 audio, float16 mels
            samples = raw_window_samples(frames, variant.length, variant.stride)
            x = torch.randint(-8000, 8000, (10, samples), dtype=torch.int16)
        else:
            x = torch.rand(10, frames, 128).half()
        y = (torch.rand(10, 50) > 0.8).float()

        timings[variant.name] = round(_best_ms_per_update(model, optimizer, x, y), 2)
    return timings


def _best_ms_per_update(model: Any, optimizer: Any, x: Any, y: Any) -> float:
    """ms per update, best of ROUNDS rounds of TIMED_UPDATES after WARMUP updates."""
    import torch

    def update() -> None:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(WARMUP):
        update()
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(TIMED_UPDATES):
            update()
        best = min(best, (time.perf_counter() - start) / TIMED_UPDATES * 1000)
    return best


def _timed_in(mode: str) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, "--time-updates", mode],
        env=dict(os.environ),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(child.stdout)


def main(updates_only: bool = False) -> int:
    """Build the grids (unless ``updates_only``: then only the per-update timings) and write
    the report."""
    results: dict[str, Any] = {"modes": {}, "grid": GRID, "machine": numerics_fingerprint()}
    results["load_average_at_start"] = os.getloadavg()
    if updates_only:
        results["ms_per_update"] = _interleaved_timings()
        return _report(results)
    with tempfile.TemporaryDirectory(prefix="numerics-") as scratch:
        for mode in MODES:
            hashes, builds = {}, {}
            for name, overrides in BUILDS.items():
                print(f"building {mode} numerics, {name} kernels ...", flush=True)
                hashes[name], seconds = build(Path(scratch) / mode / name, mode, overrides)
                builds[name] = {"env": overrides, "seconds": round(seconds, 1)}
            host = hashes["host"]
            same = {}
            for name in BUILDS:
                if name != "host":
                    same[name] = {
                        group: {
                            "files": len(files := [p for p in host if _group(p) == group]),
                            "same": sum(hashes[name].get(p) == host[p] for p in files),
                        }
                        for group, _ in GROUPS
                    }
            results["modes"][mode] = {"builds": builds, "same_as_host": same}
    results["ms_per_update"] = _interleaved_timings()
    return _report(results)


def _interleaved_timings() -> dict[str, dict[str, float]]:
    """Each TIMING_MODE's ms per update, the modes taking turns twice (best of both), so a
    load that comes and goes weighs on every mode alike."""
    timings: dict[str, dict[str, float]] = {}
    for _ in range(2):
        for mode in TIMING_MODES:
            for network, ms in _timed_in(mode).items():
                best = timings.setdefault(mode, {}).get(network, float("inf"))
                timings[mode][network] = min(best, ms)
    return timings


def _report(results: dict[str, Any]) -> int:
    """Write reports/bench/numerics_portability.{json,md} and print the Markdown."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "numerics_portability.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Portable vs native numerics",
        "",
        f"Machine: {json.dumps(results['machine'])}",
        f"Load average when it started: {results['load_average_at_start']}",
        f"Grid: {json.dumps(GRID)}",
    ]
    built = bool(results["modes"])
    if built:
        others = [b for b in BUILDS if b != "host"]
        columns = [(mode, b) for mode in MODES for b in others]
        lines += [
            "",
            "Same bytes as with the host's kernels? (files identical / files)",
            "",
            "| outputs | " + " | ".join(f"{m}: {b}" for m, b in columns) + " |",
            "| --- |" + " --- |" * len(columns),
        ]
        for group, _ in GROUPS:
            cells = [
                "{same} / {files}".format(**results["modes"][m]["same_as_host"][b][group])
                for m, b in columns
            ]
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    timings = results["ms_per_update"]
    lines += [
        "",
        f"ms per training update (one thread, minibatch 10; best of {ROUNDS} rounds of "
        f"{TIMED_UPDATES} updates after {WARMUP} warm-up updates, each mode run twice, turn "
        "about, best of both). `portable / native` is the cost of the same bits everywhere; "
        "`portable_torch_products` is portable numerics with torch's own products (MKL's "
        "COMPATIBLE branch) instead of the pinned OpenBLAS:",
        "",
        "| network | " + " | ".join(TIMING_MODES) + " | portable / native |",
        "| --- |" + " --- |" * (len(TIMING_MODES) + 1),
    ]
    for network in timings["native"]:
        cells = [f"{timings[m][network]:.2f}" for m in TIMING_MODES]
        ratio = timings["portable"][network] / timings["native"][network]
        lines.append(f"| {network} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    totals = {m: sum(timings[m].values()) for m in TIMING_MODES}
    lines.append(
        "| all variants, summed | "
        + " | ".join(f"{totals[m]:.1f}" for m in TIMING_MODES)
        + f" | {totals['portable'] / totals['native']:.2f}x |"
    )
    if built:
        lines += [
            "",
            "Seconds for the whole grid with the host's kernels (`snakemake --cores 2`): "
            + ", ".join(f"{m} {results['modes'][m]['builds']['host']['seconds']}" for m in MODES),
        ]
    (OUT / "numerics_portability.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--time-updates"]:
        print(json.dumps(time_updates(sys.argv[2])))
        sys.exit(0)
    sys.exit(main(updates_only=sys.argv[1:] == ["--updates-only"]))
