"""Pinned artefacts: check the workspace against dvc.lock; share what either driver built.

``dvc.lock`` is committed, so it pins the hash of every output of the embedded run::

    python -m pipeline.repro.artefacts verify        # every output against its pinned hash
    python -m pipeline.repro.artefacts sync --pull   # dvc pull, then make Snakemake agree
    python -m pipeline.repro.artefacts sync --push   # share what Snakemake built

**verify** rebuilds nothing: it hashes what is on disk, whichever tool built it, and checks
every output exactly: the pins are made with portable numerics (:mod:`pipeline.determinism`),
which give the same bytes on any x86-64 CPU with AVX2. When an output differs, the report
names it and adds the likely cause (native numerics, other library releases than the CPU
reference's ``constraints/cpu-reference.txt``).

**sync**: ``dvc pull`` and ``dvc checkout`` write files in checkout order, not build order, so
Snakemake, which compares modification times, would rebuild what was just fetched. sync first
asks DVC whether every output is exactly what dvc.lock pins for this code and these params;
only then does it run ``snakemake --touch`` over those outputs, which sets their times in the
DAG's order. Anything out of date is reported and nothing is touched, so no stale result is
ever marked current.

**sync --push**: Snakemake writes the outputs but not DVC's cache, so after ``snakemake``
``dvc status`` lists every output as "not in cache" and ``dvc push`` has nothing to send
until ``dvc commit``, which would accept outputs that differ from dvc.lock just as well (and
rewrite it). sync first checks every output, dependency and command of the stages (all, or
those named and what they need) against dvc.lock; only when all match does it ``dvc commit``
them into the cache (dvc.lock unchanged) and ``dvc push`` them. Anything that differs is
reported by stage and nothing is committed or pushed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ArtefactError(RuntimeError):
    """The workspace is not what dvc.lock pins; the message says what and how to fix it."""


@dataclass(frozen=True)
class OutputCheck:
    """One output of one stage against its pinned hash (``None``: not pinned / not on disk)."""

    stage: str
    path: str
    pinned: str | None
    actual: str | None

    @property
    def matches(self) -> bool:
        return self.actual is not None and self.pinned == self.actual

    @property
    def problem(self) -> str:
        if self.pinned is None:
            return "not pinned in dvc.lock"
        if self.actual is None:
            return "missing"
        return f"pinned {self.pinned[:12]}, here {self.actual[:12]}"


def _open_repo(root: Path) -> Any:
    from dvc.repo import Repo

    return Repo(str(root))


def check_outputs(root: Path = Path(".")) -> list[OutputCheck]:
    """Hash every stage output in the workspace and pair it with its pin in dvc.lock."""
    checks = []
    with _open_repo(root) as repo:
        for stage in repo.index.stages:
            for out in stage.outs:
                pinned = out.hash_info.value if out.hash_info else None
                actual = out.get_hash().value if out.exists else None
                checks.append(OutputCheck(stage.addressing, str(out.def_path), pinned, actual))
    return checks


def _stage_outputs(repo: Any, stages: list[str] | None) -> list[str]:
    """The output paths of ``stages`` (all stages when none are named)."""
    return [
        str(out.def_path)
        for stage in repo.index.stages
        if not stages or stage.addressing in stages or stage.name in stages
        for out in stage.outs
    ]


def pull(
    root: Path = Path("."), stages: list[str] | None = None, remote: str | None = None
) -> None:
    """``dvc pull`` the pinned outputs of ``stages`` (all when none are named) and their inputs."""
    with _open_repo(root) as repo:
        repo.pull(targets=stages or None, remote=remote, with_deps=True)


def _selected_stages(repo: Any, stages: list[str] | None) -> list[Any]:
    """``stages`` and every stage they need (all stages when none are named), each once."""
    if not stages:
        return list(repo.index.stages)
    found: dict[str, Any] = {}
    for target in stages:
        for stage in repo.stage.collect(target, with_deps=True):
            found.setdefault(stage.addressing, stage)
    return list(found.values())


def _differences(stage: Any) -> list[str]:
    """What of a stage differs from dvc.lock in the workspace (DVC's cache not consulted)."""
    deps, outs, command = stage.changed_entries()
    found = [f"output {path} is not the pinned one (or missing)" for path in outs]
    found += [f"dependency {path} changed" for path in deps]
    return found + ([command] if command else [])


def push(
    root: Path = Path("."), stages: list[str] | None = None, remote: str | None = None
) -> tuple[int, int]:
    """Commit and push what another driver built, only if it is exactly what dvc.lock pins.

    Returns (outputs committed, files pushed); raises :class:`ArtefactError` naming every
    stage that differs from dvc.lock, before anything is committed or pushed.
    """
    lock = root / "dvc.lock"
    with _open_repo(root) as repo:
        selected = _selected_stages(repo, stages)
        differ = {stage.addressing: _differences(stage) for stage in selected}
        lines = [f"  {name}: {'; '.join(found)}" for name, found in differ.items() if found]
        if lines:
            raise ArtefactError(
                "these stages are not what dvc.lock pins, so nothing was committed or pushed:\n"
                + "\n".join(lines)
                + "\nRebuild them (`dvc repro` or `snakemake`), or after an intended change "
                "re-pin dvc.lock (`dvc repro`, see docs/dvc.md) and commit it first."
            )
        pinned = lock.read_bytes()
        for target in stages or [None]:
            repo.commit(target, with_deps=True)  # prompts (refuses) if anything changed since
        if lock.read_bytes() != pinned:
            lock.write_bytes(pinned)
            raise ArtefactError(f"dvc commit rewrote {lock}; put back as pinned, nothing pushed")
        pushed = repo.push(targets=stages or None, remote=remote, with_deps=True)
    return sum(len(stage.outs) for stage in selected), pushed


def sync(root: Path = Path("."), stages: list[str] | None = None, cores: int = 1) -> list[str]:
    """Mark DVC-fetched outputs current for Snakemake, only if DVC says they are up to date.

    Returns the paths handed to ``snakemake --touch``; raises :class:`ArtefactError` naming the
    out-of-date stages (and touches nothing) otherwise.
    """
    with _open_repo(root) as repo:
        # `dvc status`: {} when every output (of ``stages`` and what they need) is pinned and
        # cached, and every dependency (code, params, upstream outputs) matches dvc.lock.
        status = repo.status(targets=stages or None, with_deps=True)
        outputs = _stage_outputs(repo, stages)
    if status:
        lines = [f"  {stage}: {_describe(changes)}" for stage, changes in status.items()]
        raise ArtefactError(
            "these stages are not what dvc.lock pins, so Snakemake is not told they are "
            "current:\n" + "\n".join(lines) + "\nFetch them (`python -m pipeline.repro.artefacts "
            "sync --pull`) or rebuild them (`dvc repro` or `snakemake`)."
        )
    # A directory output (the dataset) is Snakemake's rule's files inside it; they are
    # upstream of the file outputs, which --touch reaches through the DAG.
    targets = [path for path in outputs if not (root / path).is_dir()]
    if not targets:
        return []
    command = [sys.executable, "-m", "snakemake", *targets, "--touch", "--cores", str(cores)]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise ArtefactError(f"snakemake --touch failed:\n{output}")
    return targets


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _describe(changes: list[Any]) -> str:
    parts = []
    for change in changes:
        if isinstance(change, dict):
            for kind, detail in change.items():
                what = ", ".join(f"{k} {v}" for k, v in detail.items()) if detail else ""
                parts.append(f"{kind}: {what}" if what else kind)
        else:
            parts.append(str(change))
    return "; ".join(parts)


def verify(root: Path = Path(".")) -> tuple[bool, str]:
    """(ok, report): every output matches its pin in dvc.lock, on any CPU.

    The pins are made with portable numerics (:mod:`pipeline.determinism`), so every output
    is checked exactly wherever it was built. When something differs, the report adds what
    may explain it: the run's numerics setting and how this machine's kernels and library
    versions differ from those of the pinned run (a diagnostic, not a gate).
    """
    checks = check_outputs(root)
    bad = [c for c in checks if not c.matches]
    stages = {c.stage for c in checks}
    lines = [
        f"{len(checks) - len(bad)} of {len(checks)} outputs of {len(stages)} stages match dvc.lock"
    ]
    lines += [f"  {c.stage}: {c.path}: {c.problem}" for c in bad]
    if bad:
        lines += _diagnose(root)
    return not bad, "\n".join(lines)


def _diagnose(root: Path) -> list[str]:
    """Why outputs may differ: native numerics, other library releases than the CPU
    reference's (constraints/cpu-reference.txt), other kernels than the pinning run's."""
    from pipeline.config import load_params
    from pipeline.repro.numerics import numerics_fingerprint
    from pipeline.repro.reference_env import explain_differences
    from pipeline.repro.regression import RegressionError, load_reference

    lines = []
    mode = load_params(root / "params.yaml")["numerics"]
    if mode != "portable":
        lines.append("params.yaml sets `numerics: native`: the pins are portable numerics")
    lines += explain_differences(root)
    try:
        pinned = load_reference(root)["numerics"]
    except RegressionError:  # no reference pinned beside this lock: nothing to compare
        return lines
    differ = {
        k: (pinned.get(k), v) for k, v in numerics_fingerprint(mode).items() if pinned.get(k) != v
    }
    if differ:
        lines.append(
            "this machine differs from the pinned run in: "
            + ", ".join(f"{k} (pinned {a}, here {b})" for k, (a, b) in differ.items())
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.repro.artefacts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="compare every output with its hash in dvc.lock")
    fetch = sub.add_parser(
        "sync",
        help="make Snakemake agree with outputs DVC fetched (--pull: fetch them first); or, "
        "with --push, commit and push outputs Snakemake built",
    )
    direction = fetch.add_mutually_exclusive_group()
    direction.add_argument("--pull", action="store_true", help="dvc pull first")
    direction.add_argument(
        "--push",
        action="store_true",
        help="check every output, dependency and command against dvc.lock, then dvc commit "
        "and dvc push (nothing when anything differs)",
    )
    fetch.add_argument("--remote", help="remote to pull from or push to (default: core.remote)")
    fetch.add_argument("stages", nargs="*", help="DVC stages (default: all), e.g. table1")
    args = parser.parse_args(argv)
    from dvc.exceptions import DvcException

    try:
        if args.command == "verify":
            ok, report = verify(Path("."))
            print(report)
            return 0 if ok else 1
        if args.push:
            outputs, files = push(Path("."), args.stages, args.remote)
            where = f"remote {args.remote}" if args.remote else "the default remote"
            print(
                f"{_count(outputs, 'output')} matching dvc.lock committed, "
                f"{_count(files, 'file')} pushed to {where}"
            )
            return 0
        if args.pull:
            pull(Path("."), args.stages, args.remote)
        targets = sync(Path("."), args.stages)
        print(f"Snakemake now sees {len(targets)} pinned outputs as up to date")
        return 0
    except (ArtefactError, DvcException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
