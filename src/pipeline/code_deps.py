"""The source files a DAG step runs: its driver, its entry module and every pipeline module
they import.

Read from the import statements (nothing is imported or executed), so a module that a step
starts to use becomes a code dependency of its DVC stage and of its Snakemake rule without
anyone listing it, and a module the step does not reach never reruns it.

A step runs through a driver before it reaches its module: :mod:`pipeline.stages` (the step's
function, which both drivers call), then, under DVC, :mod:`pipeline.__main__` (``python -m
pipeline STEP``), under Snakemake the rule's one-line script in ``workflow/scripts/``. Each is
a code dependency of the step: an edit there (a wrong split name, a swapped argument) changes
what the step computes. The drivers are not followed through every import, though:
``stages.py`` imports each step's module inside that step's function, so reading it wholesale
would make every step depend on every other step's code. A driver contributes its own file,
its module-level imports, and (for ``stages.py``) the imports inside the step's own function;
``tests/test_code_deps.py`` checks that no import of ``stages.py`` hides anywhere else.
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
    "claims": "pipeline.evaluation.claims",
}
"""The module whose function does each step (what :mod:`pipeline.stages` calls)."""

STAGES = "pipeline.stages"
"""One function per step, named as the step: what both drivers call."""
COMMAND_LINE = "pipeline.__main__"
"""``python -m pipeline STEP``: how DVC's stages run a step."""
DRIVERS = (STAGES, COMMAND_LINE)

WORKFLOW_SCRIPTS = PACKAGE_DIR.parents[1] / "workflow" / "scripts"
"""The Snakemake rules' one-line wrappers over :mod:`pipeline.stages`."""
STEP_SCRIPTS = {step: f"{step}.py" for step in STEP_MODULES} | {"synth": "synth_dataset.py"}
"""Each step's wrapper script (its rule's ``script:``; the synth step's rule is synth_dataset)."""


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


def _parse(module: str) -> tuple[Path, ast.Module] | None:
    path = module_file(module)
    if path is None:
        return None
    return path, ast.parse(path.read_text(), str(path))


def _imports_of(module: str, path: Path, nodes: list[ast.AST]) -> frozenset[str]:
    """The ``pipeline`` modules named by the import statements among ``nodes``."""
    found: set[str] = set()
    for node in nodes:
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


@cache
def imported_modules(module: str) -> frozenset[str]:
    """The ``pipeline`` modules one module imports, at top level or inside functions."""
    parsed = _parse(module)
    if parsed is None:
        return frozenset()
    path, tree = parsed
    return _imports_of(module, path, list(ast.walk(tree)))


def _walk_outside_functions(node: ast.AST) -> list[ast.AST]:
    """Every node under ``node`` that runs when the module is imported: not function bodies."""
    found = []
    for child in ast.iter_child_nodes(node):
        found.append(child)
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            found.extend(_walk_outside_functions(child))
    return found


def module_level_imports(module: str) -> frozenset[str]:
    """The ``pipeline`` modules one module imports when it is imported (not inside functions)."""
    parsed = _parse(module)
    if parsed is None:
        return frozenset()
    path, tree = parsed
    return _imports_of(module, path, _walk_outside_functions(tree))


def function_imports(module: str, function: str) -> frozenset[str]:
    """The ``pipeline`` modules imported inside one module-level function of ``module``."""
    parsed = _parse(module)
    if parsed is None:
        return frozenset()
    path, tree = parsed
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            return _imports_of(module, path, list(ast.walk(node)))
    raise ValueError(f"{module} has no function {function}")


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


def _step_files(step: str, drivers: tuple[str, ...]) -> list[Path]:
    """The step's module and what it imports, plus each driver's file and module-level imports
    and the imports inside the step's function of :mod:`pipeline.stages` (never the other
    steps' functions: see the module's docstring)."""
    entries = {STEP_MODULES[step], *function_imports(STAGES, step)}
    for driver in drivers:
        entries |= module_level_imports(driver) - set(DRIVERS)
    driver_files = {module_file(driver) for driver in drivers}
    return sorted(set(code_files(*entries)) | {f for f in driver_files if f is not None})


def step_script(step: str) -> Path:
    """The Snakemake rule's wrapper script of a step (workflow/scripts/...)."""
    return WORKFLOW_SCRIPTS / STEP_SCRIPTS[step]


def step_code(step: str) -> list[str]:
    """The code dependencies of one DAG step under DVC, as repository paths (what dvc.yaml
    lists): its modules, stages.py and __main__.py, which ``python -m pipeline STEP`` runs."""
    root = PACKAGE_DIR.parents[1]
    return [f.relative_to(root).as_posix() for f in _step_files(step, DRIVERS)]


def script_imports(path: Path) -> frozenset[str]:
    """The ``pipeline`` modules a wrapper script imports (besides the drivers)."""
    tree = ast.parse(path.read_text(), str(path))
    return _imports_of("__main__", path, list(ast.walk(tree))) - set(DRIVERS)


def step_code_files(step: str) -> list[str]:
    """The code dependencies of one DAG step under Snakemake, as absolute paths, where the code
    runs from (inputs must not depend on ``--directory``): its modules, stages.py, the rule's
    wrapper script and what the script imports besides (e.g. its job log; Snakemake runs the
    script, never __main__.py)."""
    script = step_script(step)
    files = {*_step_files(step, (STAGES,)), *code_files(*script_imports(script)), script}
    return [str(f) for f in sorted(files)]
