"""The package is laid out as the DAG: a stage package imports only the core and earlier stages."""

from __future__ import annotations

import pkgutil
import shutil

import pytest

import pipeline
from pipeline.code_deps import PACKAGE_DIR, imported_modules, step_code

CORE = {
    "pipeline.config",
    "pipeline.constants",
    "pipeline.paths",
    "pipeline.settings",
    "pipeline.atomic",
    "pipeline.code_deps",
    "pipeline.determinism",
    "pipeline.pinned_blas",
    "pipeline.job_log",
    "pipeline.metrics",
}
DRIVERS = {"pipeline.stages", "pipeline.__main__"}
# The order data flows in; tagging and repro both come last and share nothing.
STAGE_RANK = {
    "data": 1,
    "features": 2,
    "training": 3,
    "evaluation": 4,
    "tagging": 5,
    "repro": 5,
}


def all_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.")]


def stage_of(module: str) -> str | None:
    part = module.split(".")[1] if module.count(".") else None
    return part if part in STAGE_RANK else None


def test_every_module_belongs_to_the_core_a_driver_or_a_stage_package():
    for module in all_modules():
        assert (
            module in CORE | DRIVERS
            or stage_of(module)
            or module in (f"pipeline.{s}" for s in STAGE_RANK)
        ), f"{module}: put it in a stage package or name it as core"


def layout_violations(module: str) -> list[str]:
    """What breaks the rule in one module's imports: a core module importing a stage package,
    or a stage importing a later stage (the drivers may import anything)."""
    if module in DRIVERS:
        return []
    own, found = stage_of(module), []
    for imported in imported_modules(module):
        target = stage_of(imported)
        if imported == "pipeline" or target is None:
            if own is None and imported not in CORE | {"pipeline"}:
                found.append(f"core module {module} imports {imported}")
        elif target != own and (own is None or STAGE_RANK[target] >= STAGE_RANK[own]):
            found.append(
                f"{module} ({own or 'core'}) imports {imported} ({target}): imports may only "
                "point to the core or to an earlier stage"
            )
    return found


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_imports_point_down_to_earlier_stages_or_the_core(module):
    assert layout_violations(module) == []


def test_the_rule_is_checked_on_every_stage_package_of_the_real_tree():
    """The parametrized test above is not vacuous: it covers a module of every stage package,
    every one passes, and they do import across packages (evaluation imports training), so
    passing is not for want of imports to check."""
    modules = all_modules()
    assert {stage_of(m) for m in modules} >= set(STAGE_RANK)
    assert all(layout_violations(m) == [] for m in modules)
    downward = [m for m in modules if stage_of(m) == "evaluation"]
    assert any(stage_of(i) == "training" for m in downward for i in imported_modules(m))


@pytest.fixture
def planted_tree(tmp_path, monkeypatch):
    """A copy of src/pipeline that code_deps reads instead of the real one; a test may plant
    imports in it."""
    from pipeline import code_deps

    package = tmp_path / "pipeline"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_deps, "PACKAGE_DIR", package)
    code_deps.imported_modules.cache_clear()
    yield package
    code_deps.imported_modules.cache_clear()


@pytest.mark.parametrize(
    ("module", "planted", "imported"),
    [
        ("pipeline.data.split", "from pipeline.training.loop import TrainingJob", "training.loop"),
        ("pipeline.features.windows", "import pipeline.evaluation.tables", "evaluation.tables"),
        ("pipeline.metrics", "from pipeline.training import networks", "training.networks"),
        ("pipeline.training.loop", "from .. import tagging", "pipeline.tagging"),
    ],
)
def test_an_upward_import_planted_in_a_copy_of_the_tree_is_caught(
    planted_tree, module, planted, imported
):
    """The real layout with one real upward import added (inside a function, where the
    import reader must look too): the rule names it."""
    path = planted_tree.joinpath(*module.split(".")[1:]).with_suffix(".py")
    assert layout_violations(module) == []
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {planted}\n")
    from pipeline import code_deps

    code_deps.imported_modules.cache_clear()
    violations = layout_violations(module)
    assert violations and all(v.startswith(("core module", module)) for v in violations)
    assert any(imported in v for v in violations), violations


def test_a_step_depends_on_the_modules_it_imports_and_no_others():
    train = step_code("train")
    assert "src/pipeline/training/loop.py" in train
    assert "src/pipeline/training/networks.py" in train
    assert "src/pipeline/constants.py" in train  # reached through the imports, never listed
    assert not any("/tagging/" in f or "/evaluation/" in f for f in train)
    assert all((PACKAGE_DIR.parents[1] / f).is_file() for f in train)
