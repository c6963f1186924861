"""Regression of the embedded run's test AUCs against a pinned reference (what CI checks).

::

    python -m pipeline.repro.regression check  # exit 1, naming each variant whose AUC moved
    python -m pipeline.repro.regression pin    # after a right full run: write the reference

The reference (``tests/reference/synth.json``) holds each variant's mean test AUC over seeds
and per seed, the settings it was measured with (a run with other settings is refused, not
compared), and the numerics fingerprint of the pinning machine (:mod:`pipeline.repro.numerics`,
a diagnostic). With portable numerics (the default) the AUCs are identical on any x86-64 CPU,
and ``python -m pipeline.repro.artefacts verify`` checks every output exactly. The tolerance
is for runs that cannot be bit-identical (``numerics: native``, a GPU, other library releases
than the CPU reference's, which ``check`` names): there SGD follows another trajectory and a
variant's mean AUC moves about as much as a change of seeds would. It is set well above that
and well below what a real regression costs (shuffled training labels bring an AUC down to
about 0.5).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import atomic
from pipeline.config import PARAMS_FILE, ParamsError, all_variants, load_params, training_profile
from pipeline.paths import Paths
from pipeline.repro.reference_env import explain_differences

REFERENCE_FILE = Path("tests/reference/synth.json")
DEFAULT_TOLERANCE = 0.03  # absolute, on each variant's mean test AUC over seeds


class RegressionError(RuntimeError):
    """The reference cannot be compared with this run; the message says why."""


@dataclass(frozen=True)
class Comparison:
    """One variant's mean test AUC against its pinned value (``measured`` None: not built)."""

    variant: str
    pinned: float
    measured: float | None
    tolerance: float

    @property
    def delta(self) -> float | None:
        return None if self.measured is None else self.measured - self.pinned

    @property
    def ok(self) -> bool:
        return self.delta is not None and abs(self.delta) <= self.tolerance


def run_settings(params: dict[str, Any]) -> dict[str, Any]:
    """Every params.yaml setting that changes the embedded run's AUCs."""
    return {
        "dataset": params["dataset"],
        "synth": params["synth"],
        "split": params["split"],
        "audio": params["audio"],
        "model": params["model"],
        "seeds": params["experiments"]["seeds"],
        "training": training_profile(params),
    }


def load_reference(root: Path = Path("."), path: Path = REFERENCE_FILE) -> dict[str, Any]:
    reference = Path(root) / path
    if not reference.is_file():
        raise RegressionError(
            f"{reference}: no pinned reference; run the embedded default and "
            f"`python -m pipeline.repro.regression pin`"
        )
    return json.loads(reference.read_text())


def _mean_auc(metrics_path: Path) -> tuple[float, dict[str, float]] | None:
    if not metrics_path.is_file():
        return None
    summary = json.loads(metrics_path.read_text())
    return summary["auc"], {seed: s["auc"] for seed, s in summary["seeds"].items()}


def pin(
    params: dict[str, Any], path: Path = REFERENCE_FILE, tolerance: float = DEFAULT_TOLERANCE
) -> dict[str, Any]:
    """Write the reference from this run's metrics (every variant must have been evaluated)."""
    from pipeline.repro.numerics import numerics_fingerprint

    paths = Paths.of(params)
    variants: dict[str, Any] = {}
    for variant in all_variants(params):
        measured = _mean_auc(paths.metrics(variant.name))
        if measured is None:
            raise RegressionError(f"{paths.metrics(variant.name)} is missing: run the DAG first")
        variants[variant.name] = {"auc": measured[0], "seeds": measured[1]}
    reference = {
        "what": "mean test ROC-AUC over seeds of every variant of the embedded run",
        "tolerance": tolerance,
        "settings": run_settings(params),
        "numerics": numerics_fingerprint(params["numerics"]),
        "variants": variants,
    }
    atomic.write_text(path, json.dumps(reference, indent=2) + "\n")
    return reference


def compare(
    params: dict[str, Any], reference: dict[str, Any], tolerance: float | None = None
) -> list[Comparison]:
    """Each pinned variant's AUC in this run against the reference."""
    settings = run_settings(params)
    differ = [k for k, v in reference["settings"].items() if settings.get(k) != v]
    if differ:
        raise RegressionError(
            "the reference was pinned with other settings (params.yaml keys: "
            + ", ".join(differ)
            + "); compare a run with the pinned settings, or re-pin after checking the change"
        )
    limit = reference["tolerance"] if tolerance is None else tolerance
    paths = Paths.of(params)
    comparisons = []
    for name, pinned in reference["variants"].items():
        measured = _mean_auc(paths.metrics(name))
        value = None if measured is None else measured[0]
        comparisons.append(Comparison(name, pinned["auc"], value, limit))
    return comparisons


def report(comparisons: list[Comparison]) -> str:
    """A table of every variant, failures marked, and a one-line verdict."""
    width = max(len(c.variant) for c in comparisons)
    lines = [f"{'variant':<{width}}  pinned   here     delta    verdict"]
    for c in comparisons:
        here = "missing" if c.measured is None else f"{c.measured:.4f}"
        delta = "" if c.delta is None else f"{c.delta:+.4f}"
        verdict = "ok" if c.ok else "REGRESSION" if c.delta is not None else "MISSING"
        lines.append(f"{c.variant:<{width}}  {c.pinned:.4f}  {here:<7}  {delta:<7}  {verdict}")
    bad = [c.variant for c in comparisons if not c.ok]
    tolerance = comparisons[0].tolerance
    worst = max((abs(c.delta) for c in comparisons if c.delta is not None), default=0.0)
    lines.append(
        f"{len(comparisons) - len(bad)} of {len(comparisons)} variants within ±{tolerance} "
        f"of the pinned mean test AUC (largest |delta| {worst:.4f})"
        + (f"; outside: {', '.join(bad)}" if bad else "")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.repro.regression", description=__doc__
    )
    parser.add_argument("command", choices=["check", "pin"])
    parser.add_argument("--params", default=PARAMS_FILE, help="params file (default: params.yaml)")
    parser.add_argument("--reference", type=Path, default=REFERENCE_FILE)
    parser.add_argument(
        "--tolerance", type=float, help=f"default: the reference's (pin: {DEFAULT_TOLERANCE})"
    )
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        if args.command == "pin":
            tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
            reference = pin(params, args.reference, tolerance)
            print(f"wrote {args.reference}: {len(reference['variants'])} variants")
            return 0
        comparisons = compare(params, load_reference(Path("."), args.reference), args.tolerance)
    except (ParamsError, RegressionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(comparisons))
    for line in explain_differences(Path(".")):
        print(line)
    return 0 if all(c.ok for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
