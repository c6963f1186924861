"""The CPU reference's releases (constraints/cpu-reference.txt): they are what the pins record,
pyproject admits them and a GPU host's torch, the README's commands and CI install with them,
and a run under other releases is told why its bytes differ instead of failing obscurely."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from packaging.requirements import Requirement

from pipeline.repro import artefacts, reference_env
from pipeline.repro.artefacts import OutputCheck
from pipeline.repro.reference_env import (
    CONSTRAINTS_FILE,
    INSTALL_LINE,
    ConstraintsError,
    explain_differences,
    host_requirements,
    reference_pins,
    release,
)
from tests.conftest import REPO

PINS = reference_pins(REPO / CONSTRAINTS_FILE)
FINGERPRINT = json.loads((REPO / "tests/reference/synth.json").read_text())["numerics"]
GPU_HOST_TORCH = "2.11.0+cu130"


def _installed(**versions: str | None):
    """installed_version as it answers where the reference's releases are installed but
    these distributions (``scipy_openblas32`` for ``scipy-openblas32``)."""
    changed = {reference_env.normalise(name): version for name, version in versions.items()}

    def installed(name: str) -> str | None:
        return changed[name] if name in changed else PINS.get(name)

    return installed


def test_the_constraints_pin_what_the_committed_reference_records():
    """The releases the fingerprint of tests/reference/synth.json names are the pinned ones."""
    assert PINS["torch"] == release(FINGERPRINT["torch"])
    assert PINS["numpy"] == FINGERPRINT["numpy"]
    assert PINS["soundfile"] == FINGERPRINT["soundfile"]
    assert PINS["scipy-openblas32"] in FINGERPRINT["pinned_products"]["config"].split()


def test_pyproject_admits_the_reference_releases_and_a_gpu_hosts_torch():
    """Every pin satisfies pyproject's range (else `pip install -c` could not resolve), and the
    torch range admits a GPU host's CUDA build of 2.11 (else pip would replace it)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = {
        reference_env.normalise(r.name): r for r in map(Requirement, project["dependencies"])
    }
    for name, version in PINS.items():
        if name in requirements:
            assert requirements[name].specifier.contains(version, prereleases=True), name
    assert requirements["torch"].specifier.contains(GPU_HOST_TORCH)
    assert not any(str(r.specifier).startswith("==") for r in requirements.values())


def _readme_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("## The two commands", 1)[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_the_readme_commands_and_ci_install_the_cpu_reference():
    """Both of the README's commands install with the constraints file, and CI runs exactly
    the README's test command (quietly)."""
    main, tests = _readme_commands()
    for command in (main, tests):
        assert "-c constraints/cpu-reference.txt" in command, command
    ci = (REPO / ".ci/run").read_text().strip().splitlines()[-1]
    assert ci == tests.replace("pip install ", "pip install -q ", 1)
    assert INSTALL_LINE in main


def test_a_line_that_is_not_an_exact_pin_is_refused_naming_it(tmp_path):
    path = tmp_path / "constraints.txt"
    path.write_text("# a comment\nnumpy==2.4.6  # why\ntorch>=2.11\n")
    with pytest.raises(ConstraintsError, match=r"constraints.txt:3: 'torch>=2.11'"):
        reference_pins(path)
    path.write_text("numpy==2.4.6  # why\n\nPillow==13.0.0\n")
    assert reference_pins(path) == {"numpy": "2.4.6", "pillow": "13.0.0"}


def test_the_reference_releases_leave_nothing_to_explain(monkeypatch):
    """The reference's releases (what CI installs; stood in, so a GPU host passes too) leave
    nothing to explain; another build of the same release (a local label) is that release."""
    monkeypatch.setattr(reference_env, "installed_version", PINS.get)
    assert explain_differences(REPO) == []
    monkeypatch.setattr(
        reference_env, "installed_version", _installed(torch=f"{PINS['torch']}+cu130")
    )
    assert explain_differences(REPO) == []


def test_another_torch_and_a_missing_wheel_are_named_with_the_way_back(monkeypatch):
    monkeypatch.setattr(
        reference_env,
        "installed_version",
        _installed(torch=GPU_HOST_TORCH, scipy_openblas32=None),
    )
    first, advice = explain_differences(REPO)
    assert f"torch {GPU_HOST_TORCH} (reference {PINS['torch']})" in first
    assert f"scipy-openblas32 not installed (reference {PINS['scipy-openblas32']})" in first
    assert "numpy" not in first
    assert INSTALL_LINE in advice and "regression check" in advice


def test_verify_explains_a_mismatch_under_another_torch(monkeypatch):
    """A GPU host's torch: verify reports the differing output and says which release differs
    and how to get the pinned bytes (the outputs are stood in, without DVC)."""
    bad = OutputCheck("train_raw", "models/synth/raw/seed1/model.pt", "a" * 32, "b" * 32)
    monkeypatch.setattr(artefacts, "check_outputs", lambda root: [bad])
    monkeypatch.setattr(reference_env, "installed_version", _installed(torch=GPU_HOST_TORCH))
    ok, report = artefacts.verify(REPO)
    assert not ok
    assert "0 of 1 outputs" in report and "model.pt" in report
    assert f"torch {GPU_HOST_TORCH} (reference {PINS['torch']})" in report
    assert INSTALL_LINE in report


def test_a_gpu_host_is_given_every_requirement_but_torch():
    """The list an offline GPU host's wheels are built from: pyproject's requirements, the
    test extra's with the slurm extra it names, never torch (the host's) nor the project."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    plain = host_requirements(REPO / "pyproject.toml")
    assert plain == [d for d in project["dependencies"] if Requirement(d).name != "torch"]
    with_tests = host_requirements(REPO / "pyproject.toml", ("test",))
    names = {Requirement(line).name for line in with_tests}
    assert {"pytest", "snakemake-executor-plugin-slurm", "scipy-openblas32"} <= names
    assert not names & {"torch", "e2e-tagging"}


def test_an_unknown_extra_is_refused_naming_the_known_ones(capsys):
    arguments = ["requirements", "--extra", "tests", "--pyproject", str(REPO / "pyproject.toml")]
    assert reference_env.main(arguments) == 2
    assert "no extra 'tests'; extras: s3, slurm, test" in capsys.readouterr().err
