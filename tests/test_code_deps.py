"""A step's code dependencies are everything it runs: its drivers too, and nothing of the
other steps.

What the drivers' dependency lists make of an edit (rerun or not) is checked by running them:
tests/end_to_end/test_workflow.py (Snakemake) and tests/end_to_end/test_dvc_repro.py (DVC).
"""

from __future__ import annotations

import ast
import re

import pytest

from pipeline import code_deps
from pipeline.code_deps import (
    PACKAGE_DIR,
    STAGES,
    STEP_MODULES,
    STEP_SCRIPTS,
    function_imports,
    module_level_imports,
    step_code,
    step_code_files,
    step_script,
)
from tests.conftest import REPO

STEPS = sorted(STEP_MODULES)
STAGES_FILE = "src/pipeline/stages.py"
COMMAND_LINE_FILE = "src/pipeline/__main__.py"
RANK = {"data": 1, "features": 2, "training": 3, "evaluation": 4, "tagging": 5, "repro": 5}
"""The stage packages in the order data flows (as tests/test_layout.py ranks them)."""


def _relative(files: list[str]) -> set[str]:
    """Snakemake's absolute paths as repository paths, to compare with DVC's."""
    root = str(PACKAGE_DIR.parents[1]) + "/"
    return {f.removeprefix(root) for f in files}


@pytest.mark.parametrize("step", STEPS)
def test_dvc_runs_a_step_through_stages_and_the_command_line(step):
    deps = set(step_code(step))
    assert {STAGES_FILE, COMMAND_LINE_FILE} <= deps
    assert not any(f.startswith("workflow/") for f in deps), "DVC never runs a wrapper script"
    assert all((REPO / f).is_file() for f in deps)


@pytest.mark.parametrize("step", STEPS)
def test_snakemake_runs_a_step_through_stages_and_its_rules_script(step):
    deps = _relative(step_code_files(step))
    assert {STAGES_FILE, f"workflow/scripts/{STEP_SCRIPTS[step]}"} <= deps
    assert COMMAND_LINE_FILE not in deps, "Snakemake never runs python -m pipeline"
    # The same modules as under DVC but for the drivers: the script and what it imports
    # besides (its job log), and never __main__.py.
    dvc = set(step_code(step))
    script_modules = {"src/pipeline/job_log.py"}
    assert deps - {f"workflow/scripts/{STEP_SCRIPTS[step]}"} == (
        dvc - {COMMAND_LINE_FILE}
    ) | script_modules


@pytest.mark.parametrize("step", STEPS)
def test_a_step_depends_on_no_later_stage_nor_another_steps_module(step):
    """stages.py imports every step's module, each inside its own function: a step must not
    inherit the others' (reading stages.py wholesale would make every step depend on all)."""
    own = STEP_MODULES[step].split(".")[1]
    deps = step_code(step)
    later = [f for f in deps if f.split("/")[2] in RANK and RANK[f.split("/")[2]] > RANK[own]]
    assert later == [], f"{step} ({own}) depends on later stages"
    reached = set(code_deps.code_files(STEP_MODULES[step]))
    for other, module in STEP_MODULES.items():
        other_file = code_deps.module_file(module)
        if other_file not in reached:
            assert str(other_file.relative_to(REPO)) not in deps, f"{step} depends on {other}"


def test_stages_module_level_imports_are_shared_and_each_function_imports_its_own():
    assert {"pipeline.config", "pipeline.paths", "pipeline.settings", "pipeline.atomic"} <= (
        module_level_imports(STAGES)
    )
    assert "pipeline.training.loop" not in module_level_imports(STAGES)
    assert "pipeline.training.loop" in function_imports(STAGES, "train")
    assert "pipeline.training.loop" not in function_imports(STAGES, "evaluate")
    with pytest.raises(ValueError, match="no function"):
        function_imports(STAGES, "no_such_step")


def test_every_import_of_stages_is_module_level_or_in_a_steps_own_function():
    """A step's dependencies take stages.py's module-level imports and its own function's; an
    import in a helper function would be missed, so there must be none, and each step's
    function must import the module STEP_MODULES names for it."""
    tree = ast.parse((REPO / STAGES_FILE).read_text())
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        imports = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
        if imports:
            assert node.name in STEP_MODULES, f"stages.{node.name} imports: not a step"
    for step, module in STEP_MODULES.items():
        assert module in function_imports(STAGES, step), f"stages.{step} does not use {module}"


def _rule_blocks() -> list[str]:
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow/rules").glob("*.smk")))
    return re.split(r"^\s*rule\s+\w+\s*:", text, flags=re.MULTILINE)[1:]


def test_each_rules_script_is_the_one_its_step_depends_on():
    found = {}
    for block in _rule_blocks():
        code = re.search(r'code=step_code_files\("(\w+)"\)', block)
        script = re.search(r'script:\s*"\.\./scripts/([\w.]+)"', block)
        if code and script:
            found[code.group(1)] = script.group(1)
    assert found == STEP_SCRIPTS
    for step in STEPS:
        wrapper = step_script(step)
        assert f"stages.{step}(" in wrapper.read_text(), f"{wrapper} does not run {step}"
