"""The source files a DAG step runs: its entry module and every pipeline module it imports.

Read from the import statements (nothing is imported or executed), so a module that a step
starts to use becomes a code dependency of its DVC stage and of its Snakemake rule without
anyone listing it, and a module the step does not reach never reruns it.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "pipeline"
PACKAGE_DIR = Path(__file__).resolve().parent
"""src/pipeline of this checkout."""

STEP_MODULES = {
    "synth": "pipeline.data.synth",
    "mtat_metadata": "pipeline.data.download",
    "audio_ready": "pipeline.data.datasets",
    "split": "pipeline.data.split",
    "decode_audio": "pipeline.features.cache",
    "windows": "pipeline.features.windows",
    "mel_cache": "pipeline.features.cache",
    "train": "pipeline.training.loop",
    "evaluate": "pipeline.evaluation.evaluate",
    "table": "pipeline.evaluation.tables",
    "figures": "pipeline.evaluation.figures",
}
"""The module whose function does each step (what :mod:`pipeline.stages` calls)."""


def module_file(module: str) -> Path | None:
    """The file of a ``pipeline`` module or package, or None when there is none."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


@cache
def imported_modules(module: str) -> frozenset[str]:
    """The ``pipeline`` modules one module imports, at top level or inside functions."""
    path = module_file(module)
    if path is None:
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, path).split(".")
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if module_file(m) is not None)


def _with_parents(module: str) -> list[str]:
    """A module and the packages above it: importing it runs each package's __init__."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def code_files(*entry_modules: str) -> list[Path]:
    """Every source file the entry modules reach through imports, as absolute paths."""
    seen: set[str] = set()
    todo = [m for entry in entry_modules for m in _with_parents(entry)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in imported_modules(module):
            todo.extend(_with_parents(imported))
    return sorted({f for f in map(module_file, seen) if f is not None})


def step_code(step: str) -> list[str]:
    """The code dependencies of one DAG step as repository paths (what dvc.yaml lists)."""
    root = PACKAGE_DIR.parents[1]
    return [f.relative_to(root).as_posix() for f in code_files(STEP_MODULES[step])]


def step_code_files(step: str) -> list[str]:
    """The same files as absolute paths, where the code runs from (Snakemake's inputs, which
    must not depend on ``--directory``)."""
    return [str(f) for f in code_files(STEP_MODULES[step])]
