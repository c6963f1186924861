"""The CPU reference: the library releases the pinned bytes were made with, and which differ here.

``pyproject.toml`` says which releases the code runs on (a GPU host keeps its own CUDA torch);
``constraints/cpu-reference.txt`` names the exact releases that made ``dvc.lock`` and
``tests/reference/``, and the README's commands install with it. A run under other releases
is a valid run with other bits, so ``verify`` and the AUC regression name the releases that
differ instead of leaving a reader to guess why a hash or an AUC moved.

For an offline GPU host that keeps its own torch, the rest is built as wheels elsewhere from
the list this prints (README, "Install on a GPU host")::

    PYTHONPATH=src python -m pipeline.repro.reference_env requirements [--extra test]
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

CONSTRAINTS_FILE = Path("constraints/cpu-reference.txt")
PROJECT = "e2e-tagging"
HOST_KEEPS = ("torch",)
"""What a GPU host brings itself: its CUDA build of torch."""
INSTALL_LINE = "pip install -e . -c constraints/cpu-reference.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


class ConstraintsError(RuntimeError):
    """The constraints file is missing or holds a line that is not ``name==version``."""


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503: case and ``-_.`` runs folded)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> str:
    """A version without its local label: torch ``2.13.0+cpu`` and ``2.13.0+cu130`` are one
    release (``torch==2.13.0`` admits both)."""
    return version.split("+", 1)[0]


def reference_pins(path: Path = CONSTRAINTS_FILE) -> dict[str, str]:
    """Each pinned distribution's exact version, by normalised name."""
    if not Path(path).is_file():
        raise ConstraintsError(f"{path}: missing; it names the CPU reference's library releases")
    pins = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            raise ConstraintsError(f"{path}:{number}: {line!r} is not an exact pin (name==version)")
        pins[normalise(match[1])] = match[2]
    return pins


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, ``None`` when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def differing_releases(pins: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """The pinned distributions whose installed release is another (or none): name ->
    (reference version, installed version or None)."""
    differ = {}
    for name, pinned in pins.items():
        here = installed_version(name)
        if here is None or release(here) != release(pinned):
            differ[name] = (pinned, here)
    return differ


def explain_differences(root: Path = Path(".")) -> list[str]:
    """Lines that say which installed releases differ from the CPU reference and what that
    means for the pins; none when every release is the reference's."""
    try:
        differ = differing_releases(reference_pins(Path(root) / CONSTRAINTS_FILE))
    except ConstraintsError as error:
        return [f"cannot compare library releases with the CPU reference: {error}"]
    if not differ:
        return []
    listed = ", ".join(
        f"{name} {here or 'not installed'} (reference {pinned})"
        for name, (pinned, here) in differ.items()
    )
    return [
        f"installed releases differ from the CPU reference ({CONSTRAINTS_FILE}): {listed}",
        "  other releases compute other bits, so hashes differ from dvc.lock even where "
        f"nothing is wrong; for the pinned bytes install `{INSTALL_LINE}`, otherwise the AUC "
        "regression (`python -m pipeline.repro.regression check`) is the check",
    ]


def host_requirements(
    pyproject: Path, extras: tuple[str, ...] = (), leave_out: tuple[str, ...] = HOST_KEEPS
) -> list[str]:
    """pyproject's requirements and those of ``extras`` (an extra naming the project's own
    extras is followed), without ``leave_out``: what a host that brings those must be given."""
    project = tomllib.loads(Path(pyproject).read_text())["project"]
    optional = project.get("optional-dependencies", {})
    wanted, seen, pending = list(project["dependencies"]), set(), list(extras)
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise ValueError(f"{pyproject}: no extra {extra!r}; extras: {', '.join(optional)}")
        seen.add(extra)
        for line in optional[extra]:
            own = re.fullmatch(rf"{re.escape(PROJECT)}\[([^\]]+)\]", line.replace(" ", ""))
            if own:
                pending += own[1].split(",")
            else:
                wanted.append(line)
    skip = {normalise(name) for name in leave_out}
    name = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
    return [line for line in dict.fromkeys(wanted) if normalise(name.match(line)[0]) not in skip]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.repro.reference_env", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("requirements", help="what a host that keeps its own torch needs")
    listing.add_argument("--extra", action="append", default=[], help="e.g. test (repeatable)")
    listing.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    args = parser.parse_args(argv)
    try:
        print("\n".join(host_requirements(args.pyproject, tuple(args.extra))))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
