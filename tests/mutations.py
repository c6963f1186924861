"""Plant known defects, one at a time, in a copy of the project, and run the tests that should
catch each: a defect that survives its tests is a test that does not bite.

    python tests/mutations.py                       # every defect
    python tests/mutations.py --only keep-last      # some of them (--skip to leave some out)
    python tests/mutations.py --list                # names, files and tests

Each defect names a file, the exact text it replaces, the replacement and the tests that
should fail. The text must occur exactly once in the file: when it has moved or changed the
script stops with an error naming the defect, so the list cannot rot into defects that are
never planted (tests/test_mutations.py checks this on every test run, cheaply).

For each defect the project is copied afresh as tests/conftest.py's ``copy_project`` does
(tracked and new files, never ignored ones), the defect is written into the copy, and
``python -m pytest -x -q -p no:cacheprovider TESTS`` runs in it with the copy's code first on
the path (``tool_env``: PYTHONPATH=<copy>/src) and no bytecode written. The same tests first
run on an unchanged copy: a defect whose tests already fail there is reported as
"baseline fails", not as caught.

Writes reports/bench/mutations.{json,md} (``--out``) with the machine beside the results; a
copy is committed under benchmarks/results/. Not a test module (pytest collects test_*.py
only) and not run in CI: it takes minutes.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `tests` importable
    sys.path.insert(0, str(REPO))


class DefectError(RuntimeError):
    """A defect cannot be planted: its original text is not in its file exactly once."""


@dataclass(frozen=True)
class Defect:
    """One planted bug: ``original`` in ``file`` becomes ``replacement``; ``tests`` (pytest
    node ids or files) should fail."""

    name: str
    what: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]

    def planted(self, root: Path = REPO) -> str:
        """The file's text under ``root`` with the defect in it; refuses unless the original
        text occurs exactly once (a defect must never silently not be planted)."""
        path = root / self.file
        text = path.read_text() if path.is_file() else ""
        count = text.count(self.original)
        if count != 1:
            raise DefectError(
                f"defect {self.name!r}: its original text occurs {count} times in {self.file} "
                f"(must be once); update tests/mutations.py:\n{self.original}"
            )
        return text.replace(self.original, self.replacement)

    def plant(self, root: Path) -> None:
        """Write the defect into the copy of the project at ``root``."""
        (root / self.file).write_text(self.planted(root))


STAGES_TEST = "tests/test_stages.py"
TABLES_TEST = "tests/evaluation/test_table_numbers.py"
DEFECTS = [
    Defect(
        "keep-last",
        "keep the last instead of the best-validation parameters",
        "src/pipeline/training/loop.py",
        "        if improved[-1]:\n"
        "            state.best_auc = float(valid_auc)\n"
        "            state.best_state = run.engine.parameters_of(k)\n",
        "        state.best_state = run.engine.parameters_of(k)\n"
        "        if improved[-1]:\n"
        "            state.best_auc = float(valid_auc)\n",
        ("tests/training/test_protocol.py",),
    ),
    Defect(
        "labels-shifted",
        "labels shifted by one clip",
        "src/pipeline/training/batches.py",
        '    labels = split.set_index("clip_id").loc[index["clip_id"], tags]'
        ".to_numpy(dtype=np.float32)\n",
        '    labels = split.set_index("clip_id").loc[index["clip_id"], tags]'
        ".to_numpy(dtype=np.float32)\n    labels = np.roll(labels, 1, axis=0)\n",
        ("tests/training/test_batches.py",),
    ),
    Defect(
        "train-on-validation",
        "training windows drawn from validation clips",
        "src/pipeline/training/loop.py",
        '    train_rows = source.rows_of("train")\n',
        '    train_rows = source.rows_of("valid")\n',
        ("tests/training/test_batches.py",),
    ),
    Defect(
        "max-of-windows",
        "max instead of mean of a clip's window predictions",
        "src/pipeline/metrics.py",
        "    np.add.at(sums, inverse, window_scores)\n"
        "    counts = np.bincount(inverse, minlength=len(unique))[:, None]\n"
        "    return unique, sums / counts\n",
        "    sums[:] = -np.inf\n"
        "    np.maximum.at(sums, inverse, window_scores)\n"
        "    return unique, sums\n",
        ("tests/training/test_predict.py",),
    ),
    Defect(
        "evaluate-validation",
        "stages.evaluate scores the validation split",
        "src/pipeline/stages.py",
        "        numerics=settings.training.numerics,\n",
        '        split="valid",\n        numerics=settings.training.numerics,\n',
        (STAGES_TEST,),
    ),
    Defect(
        "select-on-test",
        "the best model is selected on the test split",
        "src/pipeline/training/loop.py",
        '        run.windows,\n        "valid",\n',
        '        run.windows,\n        "test",\n',
        (STAGES_TEST,),
    ),
    Defect(
        "parameters-zero",
        "the metrics report 0 parameters",
        "src/pipeline/evaluation/evaluate.py",
        "        parameters = sum(p.numel() for p in model.parameters())\n",
        "        parameters = 0\n",
        (STAGES_TEST,),
    ),
    Defect(
        "mkl-cbwr-dropped",
        "MKL_CBWR removed from the portable settings",
        "src/pipeline/determinism.py",
        'PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}\n',
        'PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2"}\n',
        ("tests/repro/test_portability.py",),
    ),
    Defect(
        "aten-avx2-dropped",
        "ATen's AVX2 kernels removed from the portable settings",
        "src/pipeline/determinism.py",
        'PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}\n',
        'PORTABLE_ENVIRONMENT = {"MKL_CBWR": "COMPATIBLE"}\n',
        ("tests/repro/test_portability.py",),
    ),
    Defect(
        "onednn-left-on",
        "oneDNN left on under portable numerics",
        "src/pipeline/determinism.py",
        "    torch.backends.mkldnn.enabled = False\n",
        "",
        ("tests/repro/test_portability.py",),
    ),
    Defect(
        "nnpack-left-on",
        "NNPACK left on under portable numerics",
        "src/pipeline/determinism.py",
        "    torch.backends.nnpack.set_flags(False)\n",
        "",
        ("tests/repro/test_portability.py",),
    ),
    Defect(
        "pinned-products-off",
        "the networks' products left to torch (MKL) under portable numerics",
        "src/pipeline/determinism.py",
        "        pinned_blas.activate()\n",
        "        pass\n",
        ("tests/repro/test_portability.py",),
    ),
    Defect(
        "pinned-core-from-environment",
        "the pinned OpenBLAS loaded with the environment's core type, not Haswell's",
        "src/pipeline/pinned_blas.py",
        '_LOAD_ENVIRONMENT = {"OPENBLAS_CORETYPE": PINNED_CORE, "OPENBLAS_NUM_THREADS": "1"}\n',
        '_LOAD_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1"}\n',
        ("tests/repro/test_portability.py",),
    ),
    Defect(
        "evaluate-seeds-mixed",
        "stages.evaluate scores each seed with another seed's model",
        "src/pipeline/stages.py",
        '        {seed: paths.model_dir(variant.name, seed) for seed in params["experiments"]'
        '["seeds"]},\n',
        '        dict(zip(params["experiments"]["seeds"], [paths.model_dir(variant.name, seed) '
        'for seed in params["experiments"]["seeds"][::-1]])),\n',
        (STAGES_TEST,),
    ),
    Defect(
        "seed-folders-mixed",
        "a training job writes each seed's parameters and history into another seed's folder",
        "src/pipeline/training/loop.py",
        "        for seed, config, state in zip(job.seeds, run.configs, states, strict=True)\n",
        "        for seed, config, state in zip(job.seeds, run.configs, states[::-1], "
        "strict=True)\n",
        (STAGES_TEST,),
    ),
    Defect(
        "ttest-seeds-mispaired",
        "Table 1's t-test pairs each seed's spectrogram AUC with another seed's raw-audio AUC",
        "src/pipeline/evaluation/tables.py",
        '    y = np.array([b["seeds"][s]["auc"] for s in seeds])\n',
        '    y = np.array([b["seeds"][s]["auc"] for s in seeds[1:] + seeds[:1]])\n',
        (TABLES_TEST,),
    ),
    Defect(
        "ttest-unpaired",
        "Table 1's t-test over seeds ignores the pairing (independent samples)",
        "src/pipeline/evaluation/tables.py",
        "stats.ttest_rel(x, y)",
        "stats.ttest_ind(x, y)",
        (TABLES_TEST,),
    ),
    Defect(
        "wilcoxon-tags-by-row",
        "Table 1's Wilcoxon test pairs the two variants' tags by row, not by name",
        "src/pipeline/evaluation/tables.py",
        '    paired = tags_a.merge(tags_b, on="tag", suffixes=("_first", "_second"), '
        'validate="1:1")\n',
        '    paired = tags_a.join(tags_b.drop(columns="tag"), lsuffix="_first", '
        'rsuffix="_second")\n',
        (TABLES_TEST,),
    ),
    Defect(
        "drivers-not-deps",
        "stages.py and __main__.py are no code dependency of any step",
        "src/pipeline/code_deps.py",
        "    driver_files = {module_file(driver) for driver in drivers}\n",
        "    driver_files: set[Path | None] = set()\n",
        ("tests/test_code_deps.py",),
    ),
    Defect(
        "stages-read-wholesale",
        "every import of stages.py counts: each step depends on every step's module",
        "src/pipeline/code_deps.py",
        "    entries = {STEP_MODULES[step], *function_imports(STAGES, step)}\n",
        "    entries = {STEP_MODULES[step], *imported_modules(STAGES)}\n",
        ("tests/test_code_deps.py",),
    ),
    Defect(
        "script-not-a-dep",
        "a rule's wrapper script is no code dependency under Snakemake",
        "src/pipeline/code_deps.py",
        "*code_files(*script_imports(script)), script}\n",
        "*code_files(*script_imports(script))}\n",
        ("tests/test_code_deps.py",),
    ),
    Defect(
        "script-not-a-dep-snakemake",
        "the same, checked by what Snakemake reruns after an edit (a dry run, about a minute)",
        "src/pipeline/code_deps.py",
        "*code_files(*script_imports(script)), script}\n",
        "*code_files(*script_imports(script))}\n",
        ("tests/end_to_end/test_workflow.py::test_editing_code_reruns_the_steps_that_run_it",),
    ),
    Defect(
        "command-line-not-a-dep",
        "__main__.py is no code dependency of DVC's stages",
        "src/pipeline/code_deps.py",
        "    return [f.relative_to(root).as_posix() for f in _step_files(step, DRIVERS)]\n",
        "    return [f.relative_to(root).as_posix() for f in _step_files(step, (STAGES,))]\n",
        ("tests/repro/test_dvc.py",),
    ),
    Defect(
        "upward-import",
        "a data module imports training (against the layout)",
        "src/pipeline/data/split.py",
        "def tag_columns(split: pd.DataFrame) -> list[str]:\n",
        "def _planted() -> None:\n"
        "    from pipeline.training.loop import TrainingJob  # noqa: F401\n\n\n"
        "def tag_columns(split: pd.DataFrame) -> list[str]:\n",
        (
            "tests/test_layout.py::"
            "test_imports_point_down_to_earlier_stages_or_the_core[pipeline.data.split]",
        ),
    ),
    Defect(
        "tagging-max-of-windows",
        "e2e-tag reports the max, not the mean, of a file's window scores",
        "src/pipeline/tagging/inference.py",
        "        _, clip_scores = average_windows(np.zeros(len(window_scores), int), "
        "window_scores)\n",
        "        clip_scores = window_scores.max(axis=0, keepdims=True)\n",
        ("tests/tagging/test_inference.py",),
    ),
]
"""The defects: the audit's rows of "Tests that bite" first, then ones worth keeping."""


def select(only: list[str] | None, skip: list[str]) -> list[Defect]:
    """The defects named by ``--only`` (default: all) less those of ``--skip``; an unknown
    name is an error, not an empty run."""
    known = {defect.name: defect for defect in DEFECTS}
    unknown = sorted((set(only or []) | set(skip)) - set(known))
    if unknown:
        raise DefectError(f"unknown defect(s) {unknown}; known: {sorted(known)}")
    chosen = only or list(known)
    return [known[name] for name in chosen if name not in skip]


def run_tests(root: Path, tests: tuple[str, ...], timeout: int) -> dict[str, Any]:
    """``pytest -x`` on ``tests`` in the copy at ``root``, with its code and no bytecode
    written (a restored file must never be shadowed by a stale .pyc)."""
    from tests.conftest import tool_env

    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=root,
            env=tool_env(root, PYTHONDONTWRITEBYTECODE="1"),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        rc, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        rc, output = None, f"timed out after {timeout} s\n{expired.stdout or ''}"
    lines = output.splitlines()
    failures = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    return {
        "rc": rc,
        "seconds": round(time.perf_counter() - started, 1),
        "first_failure": failures[0][:200] if failures else None,
        "summary": lines[-1][:200] if lines else "",
    }


def outcome(baseline: dict[str, Any], planted: dict[str, Any]) -> str:
    """caught: a test failed with the defect and passed without it. pytest's exit codes: 0
    all passed, 1 some failed, 2 interrupted (e.g. an import error), 5 none collected."""
    if baseline["rc"] != 0:
        return "baseline fails"
    if planted["rc"] in (1, 2):
        return "caught"
    if planted["rc"] == 0:
        return "survived"
    return "error"


def _fresh_copy(scratch: Path, name: str) -> Path:
    """The project copied into ``scratch/name``, made a git repository (with nothing
    committed) so that tests which copy the project again, by ``git ls-files``, can."""
    from tests.conftest import copy_project

    folder = scratch / name
    folder.mkdir()
    copy_project(folder)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    return folder


def run(defects: list[Defect], timeout: int, baseline: bool = True) -> list[dict[str, Any]]:
    """Every defect planted in its own copy and its tests run there, after (unless told not
    to) the same tests on an unchanged copy."""
    for defect in defects:  # refuse up front, before minutes of runs
        defect.planted()
    results = []
    with tempfile.TemporaryDirectory(prefix="mutations-") as scratch:
        pristine = _fresh_copy(Path(scratch), "pristine")
        baselines: dict[tuple[str, ...], dict[str, Any]] = {}
        for defect in defects:
            if baseline and defect.tests not in baselines:
                print(f"baseline: {' '.join(defect.tests)}", flush=True)
                baselines[defect.tests] = run_tests(pristine, defect.tests, timeout)
            before = baselines.get(defect.tests, {"rc": 0, "seconds": 0.0, "skipped": True})
            copy = _fresh_copy(Path(scratch), defect.name)
            defect.plant(copy)
            print(f"{defect.name}: {' '.join(defect.tests)}", flush=True)
            after = run_tests(copy, defect.tests, timeout)
            result = {**asdict(defect), "baseline": before, "planted": after}
            result["outcome"] = outcome(before, after)
            print(f"  {result['outcome']} ({after['seconds']} s) {after['first_failure'] or ''}")
            results.append(result)
    return results


def machine() -> dict[str, Any]:
    """Where the tests ran, and which code: HEAD plus how many files differ from it."""
    from pipeline.repro.numerics import cpu_model

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout

    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "head": git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted_files": len(git("status", "--porcelain").splitlines()),
    }


def write_report(report: dict[str, Any], out: Path) -> str:
    """mutations.json and mutations.md under ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "mutations.json").write_text(json.dumps(report, indent=2) + "\n")
    host, results = report["machine"], report["results"]
    counts = {kind: sum(r["outcome"] == kind for r in results) for kind in OUTCOMES}
    lines = [
        "# Planted defects: do the tests bite?",
        "",
        "Each defect planted alone in a fresh copy of the project, its tests run there with "
        "`python -m pytest -x -q -p no:cacheprovider TESTS` (`python tests/mutations.py`). "
        f"Machine: {host['cpu_model']}, {host['cpu_count']} CPUs, {host['platform']}, "
        f"Python {host['python']}; code: {host['head']} with {host['uncommitted_files']} "
        f"uncommitted file(s); {report['date']}.",
        "",
        f"Planted {len(results)}: "
        + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        + (
            f". Not planted this run: {', '.join(report['not_run'])}." if report["not_run"] else "."
        ),
        "",
        "| defect | what | file | tests | outcome | first failing test | s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        failure = (r["planted"]["first_failure"] or r["planted"]["summary"]).replace("|", "\\|")
        lines.append(
            f"| {r['name']} | {r['what']} | `{r['file']}` | "
            + "<br>".join(f"`{t}`" for t in r["tests"])
            + f" | {r['outcome']} | {failure} | {r['planted']['seconds']} |"
        )
    text = "\n".join(lines) + "\n"
    (out / "mutations.md").write_text(text)
    return text


OUTCOMES = ("caught", "survived", "baseline fails", "error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="plant only these defects")
    parser.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="leave these out")
    parser.add_argument("--list", action="store_true", help="list the defects and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unchanged runs")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per pytest run")
    parser.add_argument("--out", type=Path, default=REPO / "reports/bench")
    args = parser.parse_args(argv)
    try:
        defects = select(args.only, args.skip)
        if args.list:
            for defect in defects:
                defect.planted()
                print(f"{defect.name}: {defect.what}\n  {defect.file}\n  {' '.join(defect.tests)}")
            return 0
        started = time.strftime("%Y-%m-%d %H:%M")
        results = run(defects, args.timeout, baseline=not args.no_baseline)
    except DefectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    chosen = {defect.name for defect in defects}
    report = {
        "date": started,
        "machine": machine(),
        "not_run": [defect.name for defect in DEFECTS if defect.name not in chosen],
        "results": results,
    }
    print(write_report(report, args.out))
    return 0 if all(r["outcome"] == "caught" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
