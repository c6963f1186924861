"""Does the embedded data make a raw-audio network learn a frequency decomposition, whatever
the draw of the data? The figures' models trained on other ``synth.seed`` values.

For each synth seed, in a fresh copy of the project (this interpreter, the copy's code), it
runs Snakemake up to the two filter figures' models and their evaluation (`raw_512_512`,
Figure 2's, and the L2-pooling model of Figure 4, every seed of ``experiments.seeds``), then
reads their strided filters with the scorecard's statistics
(:mod:`pipeline.evaluation.filter_stats`) and the data with the band diagnosis
(:mod:`pipeline.features.diagnose`):

    python benchmarks/filter_learning.py [--synth-seeds 2014 7 99] [--cores 2]

Writes reports/bench/filter_learning.{json,md} with the machine and settings beside the
numbers; a committed run is in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "reports/bench"
sys.path.insert(0, str(REPO))

from pipeline.config import figure_variants, load_params  # noqa: E402
from pipeline.evaluation.claims import ClaimSettings, filter_evidence  # noqa: E402
from pipeline.features.diagnose import diagnose_cache  # noqa: E402
from pipeline.paths import Paths  # noqa: E402
from pipeline.repro.numerics import cpu_model  # noqa: E402
from tests.conftest import copy_project  # noqa: E402


def run_figure_models(workdir: Path, synth_seed: int, cores: int) -> float:
    """Snakemake in ``workdir`` up to the figures' models' metrics; the wall seconds."""
    params = load_params(workdir / "params.yaml")
    override = workdir / "synth_seed.yaml"
    override.write_text(yaml.safe_dump({"synth": {**params["synth"], "seed": synth_seed}}))
    paths = Paths.of(params)
    targets = [str(paths.metrics(v.name)) for v in figure_variants(params).values()]
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    start = time.perf_counter()
    done = subprocess.run(
        # targets first: --configfile takes every word after it
        [sys.executable, "-m", "snakemake", "--cores", str(cores), *targets]
        + ["--configfile", str(override)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"synth seed {synth_seed}: snakemake failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def measure(workdir: Path, synth_seed: int) -> dict[str, Any]:
    """The figures' statistics per seed, the models' test AUC and the data's band cues."""
    params = load_params(workdir / "params.yaml")
    settings = ClaimSettings.from_params(params)
    paths = Paths.of(params)
    seeds = params["experiments"]["seeds"]
    chosen = figure_variants(params)
    models = {
        name: {s: workdir / paths.model_dir(v.name, s) for s in seeds}
        for name, v in chosen.items()
    }
    fig2 = filter_evidence(models["filters"], settings)
    fig4 = filter_evidence(models["l2_groups"], settings, chosen["l2_groups"].pool_size)
    assert fig2 is not None and fig4 is not None
    aucs = {
        v.name: json.loads((workdir / paths.metrics(v.name)).read_text())["auc"]
        for v in chosen.values()
    }
    cues = diagnose_cache(workdir / paths.audio_stem, workdir / paths.split)
    strong = cues.tags.dropna(subset=["best_auc"])
    strong = strong[strong["best_auc"] >= 0.8]
    return {
        "synth_seed": synth_seed,
        "updates": fig2.updates,
        "fig2": {str(s): stats.to_dict() for s, stats in fig2.stats.items()},
        "fig4": {str(s): pools.to_dict() for s, pools in fig4.pools.items()},
        "test_auc": aucs,
        "band_power_share": dict(zip(cues.bands["band"], cues.bands["power_share"], strict=True)),
        "tags_with_a_band_at_auc_0.8": {
            row["tag"]: row["best_band"] for row in strong.to_dict("records")
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-seeds", type=int, nargs="+", default=[2014, 7, 99])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    runs = []
    load_before = os.getloadavg()
    for synth_seed in args.synth_seeds:
        with tempfile.TemporaryDirectory(prefix="filter-learning-") as scratch:
            workdir = copy_project(Path(scratch))
            seconds = run_figure_models(workdir, synth_seed, args.cores)
            runs.append({**measure(workdir, synth_seed), "wall_s": round(seconds, 1)})
            print(f"synth seed {synth_seed}: {seconds:.0f} s", file=sys.stderr)
    report = {
        "command": "python benchmarks/filter_learning.py --synth-seeds "
        + " ".join(str(s) for s in args.synth_seeds),
        "runs": runs,
        "machine": {
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
    }
    return write_report(report)


def write_report(report: dict[str, Any]) -> int:
    """reports/bench/filter_learning.{json,md}; the Markdown is also printed."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "filter_learning.json").write_text(json.dumps(report, indent=2) + "\n")
    machine = report["machine"]
    lines = [
        "# What the figures' raw-audio models learn on other draws of the embedded data",
        "",
        f"`{report['command']}`. Machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs; "
        f"load average before {machine['load_average_before']}.",
        "",
        "Figure 2's model (raw audio, 512/512): per seed, filters frequency-selective (peak >= "
        "10 x mean power), with their dominant frequency in 100 Hz-4 kHz and below 100 Hz, per "
        "octave 100-200 / 200-400 / 400-800 / 800-1600 / 1600-3200 Hz, and filters per kHz below "
        "and above 1 kHz. Figure 4's (L2 pools of 4, 1024/1024): spread of a pool's dominant "
        "frequencies against random groupings (octaves), the permutation p-value, and the median "
        "phase difference within pools.",
        "",
        "| synth seed | seed | selective | 100 Hz-4 kHz | < 100 Hz | per octave | per kHz "
        "< / > 1 kHz | pools: spread vs random | p | phase |",
        "| ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for run in report["runs"]:
        for seed, fig2 in run["fig2"].items():
            pools = run["fig4"][seed]
            lines.append(
                f"| {run['synth_seed']} | {seed} | {fig2['selective']} | {fig2['in_band']} | "
                f"{fig2['below_100_hz']} | {' / '.join(str(n) for n in fig2['octaves'].values())} "
                f"| {fig2['density_below_1khz_per_khz']:.0f} / "
                f"{fig2['density_above_1khz_per_khz']:.0f} | {pools['spread_octaves']:.2f} vs "
                f"{pools['random_spread_octaves']:.2f} | {pools['p_value']:.4f} | "
                f"{pools['phase_spread_degrees']:.0f} |"
            )
    lines += ["", "| synth seed | updates | test AUC | tags one band predicts at AUC >= 0.8 | "
              "wall s |", "| ---: | ---: | --- | --- | ---: |"]  # fmt: skip
    for run in report["runs"]:
        aucs = ", ".join(f"{name} {auc:.3f}" for name, auc in run["test_auc"].items())
        strong = run["tags_with_a_band_at_auc_0.8"]
        cues = ", ".join(f"{tag} ({band})" for tag, band in strong.items())
        lines.append(
            f"| {run['synth_seed']} | {run['updates']} | {aucs} | {cues or 'none'} | "
            f"{run['wall_s']:.0f} |"
        )
    (OUT / "filter_learning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
