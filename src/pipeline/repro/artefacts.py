"""Pinned artefacts: check the workspace against dvc.lock; hand fetched outputs to Snakemake.

``dvc.lock`` is committed, so it pins the hash of every output of the embedded run::

    python -m pipeline.repro.artefacts verify        # every output against its pinned hash
    python -m pipeline.repro.artefacts sync --pull   # dvc pull, then make Snakemake agree

**verify** rebuilds nothing: it hashes what is on disk, whichever tool built it. Outputs
computed in floating point (mel caches, models, metrics, tables, figures) are exact only where
the numerics fingerprint (:mod:`pipeline.repro.numerics`) equals the one pinned beside the
lock in the regression reference. Elsewhere only the portable stages (dataset, split, audio
cache, windows) are checked, and the AUCs are compared with a tolerance by
:mod:`pipeline.repro.regression`.

**sync**: ``dvc pull`` and ``dvc checkout`` write files in checkout order, not build order, so
Snakemake, which compares modification times, would rebuild what was just fetched. sync first
asks DVC whether every output is exactly what dvc.lock pins for this code and these params;
only then does it run ``snakemake --touch`` over those outputs, which sets their times in the
DAG's order. Anything out of date is reported and nothing is touched, so no stale result is
ever marked current.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Stages whose outputs are computed without BLAS or torch kernels and are the same bytes on
# any x86-64 machine with the pinned library versions (measured: docs/dvc.md).
PORTABLE_STAGES = ("synth", "audio_ready", "split", "decode_audio", "windows")


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
    def portable(self) -> bool:
        return self.stage.split("@")[0] in PORTABLE_STAGES

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


def verify(root: Path = Path("."), portable_only: bool | None = None) -> tuple[bool, str]:
    """(ok, report): every checked output matches its pin. ``portable_only=None`` decides by
    comparing this machine's numerics fingerprint with the pinned one."""
    from pipeline.repro.numerics import numerics_fingerprint
    from pipeline.repro.regression import load_reference

    lines = []
    if portable_only is None:
        pinned = load_reference(root)["numerics"]
        here = numerics_fingerprint()
        differ = {k: (pinned.get(k), v) for k, v in here.items() if pinned.get(k) != v}
        portable_only = bool(differ)
        if differ:
            lines.append(
                "numerics differ from the pinned run ("
                + ", ".join(f"{k}: pinned {a}, here {b}" for k, (a, b) in differ.items())
                + "): checking only the portable stages; compare the AUCs with "
                "`python -m pipeline.repro.regression check`"
            )
        else:
            lines.append("numerics are those of the pinned run: every output must match")
    checks = check_outputs(root)
    checked = [c for c in checks if c.portable] if portable_only else checks
    bad = [c for c in checked if not c.matches]
    stages = {c.stage for c in checked}
    lines.append(
        f"{len(checked) - len(bad)} of {len(checked)} outputs of {len(stages)} stages match "
        f"dvc.lock"
    )
    lines += [f"  {c.stage}: {c.path}: {c.problem}" for c in bad]
    if portable_only:
        other = [c for c in checks if not c.portable]
        same = sum(c.matches for c in other)
        lines.append(f"(not checked: {len(other)} floating-point outputs, {same} match anyway)")
    return not bad, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.repro.artefacts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="compare every output with its hash in dvc.lock")
    scope = check.add_mutually_exclusive_group()
    scope.add_argument("--all", action="store_true", help="check every output, whatever the CPU")
    scope.add_argument("--portable", action="store_true", help="check only portable stages")
    fetch = sub.add_parser("sync", help="make Snakemake agree with outputs DVC fetched")
    fetch.add_argument("--pull", action="store_true", help="dvc pull first")
    fetch.add_argument("--remote", help="remote to pull from (default: core.remote)")
    fetch.add_argument("stages", nargs="*", help="DVC stages (default: all), e.g. table1")
    args = parser.parse_args(argv)
    from dvc.exceptions import DvcException

    try:
        if args.command == "verify":
            mode = True if args.portable else False if args.all else None
            ok, report = verify(Path("."), mode)
            print(report)
            return 0 if ok else 1
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
