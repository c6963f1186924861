"""Portable numerics on other CPUs: the probe (tests/repro/portability_probe.py) run on
emulated CPUs gives the bytes pinned in tests/reference/portability_probe.json.

QEMU's user-mode emulator (``qemu-x86_64``, Debian's ``qemu-user``, 7.2 or later for AVX2)
runs this Python on a CPU whose CPUID every library believes, so numpy, OpenBLAS, MKL and
ATen dispatch as they would on that CPU: ``-cpu Haswell`` is an Intel Haswell (AVX2 + FMA,
no AVX-512), ``-cpu EPYC-Rome`` an AMD Zen 2. Unlike tests/repro/test_portability.py, which
forces other kernels through environment variables, nothing here tells a library what to
pick. Emulated vector instructions cost about a hundred times their native time, so the
short probe runs (``--short``: one synthesised clip of 4 s, 4 updates per model), both CPUs
at once.

Where the emulator cannot run (another architecture, no ``qemu-x86_64``, a QEMU without
AVX2) the tests are skipped with the reason; CI (``.ci/run``) installs QEMU and sets
``E2E_REQUIRE_QEMU=1``, under which those reasons fail the tests instead.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO, tool_env
from tests.repro import portability_probe

PROBE = Path(portability_probe.__file__)
REFERENCE = REPO / "tests/reference/portability_probe.json"
EMULATED_CPUS = ("Haswell", "EPYC-Rome")
REQUIRED = "E2E_REQUIRE_QEMU"
"""Set to 1 by .ci/run: a test that cannot run here fails rather than skips."""
MINIMUM_QEMU = (7, 2)  # the first QEMU whose emulator (TCG) runs AVX2 and FMA
TIMEOUT_S = 1500  # ~100 s of one core each on an idle machine; CI runs other tests beside


def _cannot_run(reason: str) -> None:
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"{reason}; {REQUIRED}=1 (set by .ci/run) requires this test to run")
    pytest.skip(reason)


def emulator() -> str:
    """qemu-x86_64's path, or skip (fail under E2E_REQUIRE_QEMU=1) saying why it cannot run."""
    if platform.machine() != "x86_64":
        _cannot_run(
            f"the emulated CPUs run this machine's x86-64 Python; this is {platform.machine()}"
        )
    path = shutil.which("qemu-x86_64")
    if path is None:
        _cannot_run("qemu-x86_64 not found: install it (Debian: apt-get install qemu-user)")
    banner = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"version (\d+)\.(\d+)", banner)
    version = (int(found[1]), int(found[2])) if found else (0, 0)
    if version < MINIMUM_QEMU:
        _cannot_run(
            f"{path} is QEMU {version[0]}.{version[1]}; emulating AVX2 and FMA needs "
            f"{MINIMUM_QEMU[0]}.{MINIMUM_QEMU[1]} or later"
        )
    return path


@dataclass(frozen=True)
class ProbeRun:
    """One short probe: where it ran, its hashes, the kernels it reported and its time."""

    cpu: str
    hashes: dict[str, str]
    kernels: dict[str, object]
    seconds: float


def _start(out: Path, *prefix: str) -> subprocess.Popen:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [*prefix, sys.executable, str(PROBE), str(out), "portable", "--short"]
    return subprocess.Popen(
        command,
        cwd=out.parent,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(cpu: str, process: subprocess.Popen, started: float) -> ProbeRun:
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the probe on {cpu} ran past {TIMEOUT_S} s")
    seconds = time.perf_counter() - started
    assert process.returncode == 0, f"probe on {cpu}:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    [line] = [line for line in stderr.splitlines() if line.startswith("kernels: ")]
    kernels = json.loads(line.removeprefix("kernels: "))
    return ProbeRun(cpu, json.loads(stdout.strip().splitlines()[-1]), kernels, seconds)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProbeRun]:
    """The short probe on each emulated CPU, all at once, and on this machine meanwhile."""
    qemu = emulator()
    scratch = tmp_path_factory.mktemp("emulated")
    started = time.perf_counter()
    emulated = {cpu: _start(scratch / cpu / "run", qemu, "-cpu", cpu) for cpu in EMULATED_CPUS}
    host = _finish("host", _start(scratch / "host" / "run"), started)
    done = {cpu: _finish(cpu, process, started) for cpu, process in emulated.items()}
    for run in (host, *done.values()):
        print(f"{run.cpu}: {run.seconds:.0f} s, kernels {json.dumps(run.kernels)}")
    return {"host": host, **done}


def _reference() -> dict[str, str]:
    """The pinned short-probe hashes, or skip (fail in CI) when pinned with other versions."""
    reference = json.loads(REFERENCE.read_text())
    versions = {"torch": torch.__version__, "numpy": np.__version__}
    if reference["versions"] != versions:
        _cannot_run(f"{REFERENCE.name} was pinned with {reference['versions']}, this is {versions}")
    prefix = portability_probe.SHORT.prefix
    return {name: h for name, h in reference["hashes"].items() if name.startswith(prefix)}


def test_the_host_gives_the_pinned_short_probe(runs):
    """Re-pin with `python tests/repro/portability_probe.py --pin` after a change meant to
    change the probe's bytes."""
    reference = _reference()
    assert set(runs["host"].hashes) == set(reference)
    differing = [name for name, h in runs["host"].hashes.items() if reference[name] != h]
    assert not differing, f"{differing} differ from {REFERENCE.name}"


@pytest.mark.parametrize("cpu", EMULATED_CPUS)
def test_an_emulated_cpu_gives_the_hosts_bytes(runs, cpu):
    """Every output, from the synthesised mp3 to Table 1, byte for byte the host's (and so,
    by the test above, the pinned ones)."""
    host, emulated = runs["host"].hashes, runs[cpu].hashes
    differing = [name for name in host if emulated.get(name) != host[name]]
    assert not differing, f"on {cpu}: {differing} differ from this machine's"


@pytest.mark.parametrize("cpu", EMULATED_CPUS)
def test_the_libraries_saw_a_cpu_without_avx512(runs, cpu):
    """What makes the emulation a test: numpy dispatched none of its AVX-512 loops and its
    OpenBLAS an AVX2 core, as on a real Haswell or Zen 2, while portable numerics still had
    their kernels (ATen's AVX2, the pinned products' Haswell)."""
    kernels = runs[cpu].kernels
    assert [t for t in kernels["numpy_dispatch"] if "AVX512" in t or t == "X86_V4"] == [], kernels
    assert "X86_V3" in kernels["numpy_dispatch"], kernels
    assert kernels["openblas"] in {"Haswell", "Zen"}, kernels
    assert kernels["torch_cpu_capability"] == "AVX2", kernels
    assert kernels["pinned_products"]["core"] == "Haswell", kernels


# --- where the emulator cannot run: a reason, and a failure in CI -------------------------------


def _fake_qemu(folder: Path, version: str) -> None:
    folder.mkdir(exist_ok=True)
    fake = folder / "qemu-x86_64"
    fake.write_text(f"#!/bin/sh\necho 'qemu-x86_64 version {version}'\n")
    fake.chmod(0o755)


@pytest.mark.parametrize("required", ["", "1"])
def test_a_machine_that_cannot_emulate_says_why(required, monkeypatch, tmp_path):
    """No qemu-x86_64, or one too old for AVX2: a skip naming the fix, or in CI a failure."""
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setenv(REQUIRED, required)
    outcome = pytest.fail.Exception if required else pytest.skip.Exception
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(outcome, match="qemu-x86_64 not found.*apt-get install qemu-user"):
        emulator()
    _fake_qemu(tmp_path / "old", "6.2.0 (Debian 1:6.2+dfsg-2ubuntu6)")
    monkeypatch.setenv("PATH", str(tmp_path / "old"))
    with pytest.raises(outcome, match="QEMU 6.2; emulating AVX2 and FMA needs 7.2 or later"):
        emulator()
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    with pytest.raises(outcome, match="this is aarch64"):
        emulator()
    _fake_qemu(tmp_path / "new", "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setenv("PATH", str(tmp_path / "new"))
    assert emulator() == str(tmp_path / "new" / "qemu-x86_64")
