"""Which pinned hashes would be the same on another CPU? (issue 5)

numpy, OpenBLAS and torch pick SIMD kernels for the CPU at run time. This script builds a
small grid of the embedded DAG with Snakemake three times on this machine: natively, and
with the kernels forced to the choices other CPUs would make:

* ``avx2_cpu``: an x86-64 CPU without AVX-512 (numpy's AVX-512 loops off, torch and oneDNN
  limited to AVX2): ``NPY_DISABLE_CPU_FEATURES``, ``ATEN_CPU_CAPABILITY``,
  ``ONEDNN_MAX_CPU_ISA``;
* ``skylakex_blas``: OpenBLAS's Intel AVX-512 kernels (``OPENBLAS_CORETYPE=SkylakeX``),
  which numpy uses on Intel server CPUs.

Then it compares every output file with the native build, grouped by step. This emulates
other CPUs; it does not run on them.

    python benchmarks/numerics_portability.py

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
from pipeline.numerics import numerics_fingerprint

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "reports/bench"

# The tests' small grid: every kind of step, in about a minute per build on 2 cores.
GRID = yaml.safe_load((REPO / "tests/tiny_grid.yaml").read_text())

BUILDS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2_cpu": {
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "skylakex_blas": {"OPENBLAS_CORETYPE": "SkylakeX"},
}

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


def build(workdir: Path, env_overrides: dict[str, str]) -> tuple[dict[str, str], float]:
    """Run the grid in ``workdir``; md5 of every output file, and the wall time."""
    params = merge_params(yaml.safe_load((REPO / "params.yaml").read_text()), GRID)
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


def main() -> int:
    results: dict[str, Any] = {"builds": {}, "grid": GRID, "machine": numerics_fingerprint()}
    with tempfile.TemporaryDirectory(prefix="numerics-") as scratch:
        hashes = {}
        for name, overrides in BUILDS.items():
            print(f"building {name} ...", flush=True)
            hashes[name], seconds = build(Path(scratch) / name, overrides)
            results["builds"][name] = {"env": overrides, "seconds": round(seconds, 1)}
    native = hashes["native"]
    table = []
    for name in BUILDS:
        if name == "native":
            continue
        row: dict[str, Any] = {"build": name}
        for group, _ in GROUPS:
            files = [p for p in native if _group(p) == group]
            same = sum(hashes[name].get(p) == native[p] for p in files)
            row[group] = {"files": len(files), "same": same}
        table.append(row)
    results["same_as_native"] = table
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "numerics_portability.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Same bytes as the native build? (files identical / files)",
        "",
        f"Machine: {json.dumps(results['machine'])}",
        f"Grid: {json.dumps(GRID)}",
        "",
        "| outputs | " + " | ".join(row["build"] for row in table) + " |",
        "| --- |" + " --- |" * len(table),
    ]
    for group, _ in GROUPS:
        cells = [f"{row[group]['same']} / {row[group]['files']}" for row in table]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines += ["", "Builds: " + json.dumps(results["builds"])]
    (OUT / "numerics_portability.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
