"""How long does the README's main command take, and where does the time go?

Copies the project (tracked and new files, as a fresh clone has them) into a temporary folder
and runs the README's main command there (`snakemake --cores N`, with this interpreter and the
copy's code: the install step is not timed), then reads what Snakemake recorded:

* per rule, from the ``benchmark:`` files every rule writes (reports/bench/snakemake/): jobs,
  summed wall seconds, CPU seconds and the largest resident memory of one job;
* the critical path: the longest chain of jobs through the DAG, weighted by each job's wall
  time (its start and end in Snakemake's metadata, .snakemake/metadata, linked through the
  files one job writes and another reads). No schedule on any number of cores beats it, and
  on N cores none beats the summed job time divided by N either.

    python benchmarks/main_job.py [--cores 2] [--keep DIR]

Writes reports/bench/main_job.json and main_job.md with the machine and settings beside the
numbers; a committed run is in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "reports/bench"
sys.path.insert(0, str(REPO))

from pipeline.repro.numerics import cpu_model, numerics_fingerprint  # noqa: E402
from tests.conftest import copy_project  # noqa: E402


def run_main_job(workdir: Path, cores: int) -> float:
    """`snakemake --cores N` in ``workdir`` with its own code; the wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    (workdir / "main_job.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(
            f"the main job failed; see {workdir / 'main_job.log'}:\n{done.stderr[-3000:]}"
        )
    return seconds


def per_rule(workdir: Path) -> dict[str, dict[str, float]]:
    """Jobs, summed wall and CPU seconds, and the largest max RSS (MB) per rule, from the
    benchmark files (reports/bench/snakemake/<dataset>/<rule>/<job>.tsv)."""
    rules: dict[str, dict[str, float]] = defaultdict(
        lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0}
    )
    for path in sorted((workdir / "reports/bench/snakemake").glob("*/*/*.tsv")):
        with path.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        rule = rules[path.parent.name]
        rule["jobs"] += 1
        rule["wall_s"] += float(row["s"])
        rule["cpu_s"] += float(row["cpu_time"])
        rule["max_rss_mb"] = max(rule["max_rss_mb"], float(row["max_rss"]))
    return {name: {k: round(v, 2) for k, v in values.items()} for name, values in rules.items()}


def job_records(workdir: Path) -> dict[int, dict[str, Any]]:
    """Snakemake's metadata, one record per job: rule, wall seconds, outputs and inputs."""
    jobs: dict[int, dict[str, Any]] = {}
    for path in (workdir / ".snakemake/metadata").iterdir():
        record = json.loads(path.read_text())
        output = base64.b64decode(path.name + "=" * (-len(path.name) % 4)).decode()
        job = jobs.setdefault(
            record["job_hash"],
            {
                "rule": record["rule"],
                "seconds": record["endtime"] - record["starttime"],
                "inputs": set(record["input"]),
                "outputs": set(),
            },
        )
        job["outputs"].add(output)
    return jobs


def critical_path(jobs: dict[int, dict[str, Any]]) -> tuple[float, list[str]]:
    """The longest chain of jobs (seconds, and the rules along it, first job first)."""
    producer = {output: job for job, record in jobs.items() for output in record["outputs"]}
    longest: dict[int, tuple[float, list[str]]] = {}

    def chain(job: int) -> tuple[float, list[str]]:
        if job not in longest:
            before = [chain(producer[i]) for i in jobs[job]["inputs"] if i in producer]
            seconds, rules = max(before, default=(0.0, []))
            longest[job] = (seconds + jobs[job]["seconds"], [*rules, jobs[job]["rule"]])
        return longest[job]

    return max((chain(job) for job in jobs), default=(0.0, []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and keep it")
    args = parser.parse_args()
    scratch = None if args.keep else tempfile.TemporaryDirectory(prefix="main-job-")
    workdir = args.keep or Path(scratch.name)
    workdir.mkdir(parents=True, exist_ok=True)
    copy_project(workdir)
    load_before = os.getloadavg()
    wall = run_main_job(workdir, args.cores)
    rules = per_rule(workdir)
    path_seconds, path_rules = critical_path(job_records(workdir))
    summed = sum(rule["wall_s"] for rule in rules.values())
    report = {
        "command": f"snakemake --cores {args.cores}",
        "wall_s": round(wall, 1),
        "summed_job_s": round(summed, 1),
        "critical_path_s": round(path_seconds, 1),
        "critical_path": path_rules,
        "lower_bound_s": round(max(path_seconds, summed / args.cores), 1),
        "rules": rules,
        "machine": {
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "numerics": numerics_fingerprint("portable"),
        },
    }
    if scratch is not None:
        scratch.cleanup()
    return write_report(report)


def write_report(report: dict[str, Any]) -> int:
    """reports/bench/main_job.{json,md}; the Markdown is also printed."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "main_job.json").write_text(json.dumps(report, indent=2) + "\n")
    machine = report["machine"]
    lines = [
        "# The main job: `" + report["command"] + "` from a fresh copy",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, {machine['platform']}; "
        f"load average before {machine['load_average_before']}, "
        f"after {machine['load_average_after']}.",
        "",
        f"- wall time: **{report['wall_s']:.0f} s** ({report['wall_s'] / 60:.1f} min)",
        f"- summed job time: {report['summed_job_s']:.0f} s; critical path "
        f"{report['critical_path_s']:.0f} s; so no schedule beats {report['lower_bound_s']:.0f} s "
        "on these cores",
        f"- critical path: {' -> '.join(report['critical_path'])}",
        "",
        "| rule | jobs | wall s (sum) | CPU s (sum) | max RSS of a job (MB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, rule in sorted(report["rules"].items(), key=lambda item: -item[1]["wall_s"]):
        lines.append(
            f"| {name} | {rule['jobs']:.0f} | {rule['wall_s']:.1f} | {rule['cpu_s']:.1f} | "
            f"{rule['max_rss_mb']:.0f} |"
        )
    (OUT / "main_job.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
