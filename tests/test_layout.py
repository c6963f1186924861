"""The package is laid out as the DAG: a stage package imports only the core and earlier stages."""

from __future__ import annotations

import pkgutil

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


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_imports_point_down_to_earlier_stages_or_the_core(module):
    if module in DRIVERS:
        return
    own = stage_of(module)
    for imported in imported_modules(module):
        target = stage_of(imported)
        if imported == "pipeline" or target is None:
            assert own is not None or imported in CORE | {"pipeline"}, (
                f"core module {module} imports {imported}"
            )
            continue
        if target == own:
            continue
        assert own is not None and STAGE_RANK[target] < STAGE_RANK[own], (
            f"{module} ({own or 'core'}) imports {imported} ({target}): imports may only point "
            "to the core or to an earlier stage"
        )


def test_the_import_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule above can fail: a data module importing training is caught."""
    from pipeline import code_deps

    package = tmp_path / "pipeline"
    (package / "data").mkdir(parents=True)
    (package / "training").mkdir()
    for init in ("__init__.py", "data/__init__.py", "training/__init__.py"):
        (package / init).write_text("")
    (package / "training/loop.py").write_text("X = 1\n")
    (package / "data/split.py").write_text("from pipeline.training.loop import X\n")
    monkeypatch.setattr(code_deps, "PACKAGE_DIR", package)
    code_deps.imported_modules.cache_clear()
    try:
        assert "pipeline.training.loop" in code_deps.imported_modules("pipeline.data.split")
    finally:
        code_deps.imported_modules.cache_clear()


def test_a_step_depends_on_the_modules_it_imports_and_no_others():
    train = step_code("train")
    assert "src/pipeline/training/loop.py" in train
    assert "src/pipeline/training/networks.py" in train
    assert "src/pipeline/constants.py" in train  # reached through the imports, never listed
    assert not any("/tagging/" in f or "/evaluation/" in f for f in train)
    assert all((PACKAGE_DIR.parents[1] / f).is_file() for f in train)
