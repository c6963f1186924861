"""The numerics fingerprint: what decides floating-point bits, read on numpy 1.26 and 2."""

from __future__ import annotations

import importlib
import json
import platform
import subprocess
import sys
import warnings

import pytest

from pipeline.repro.numerics import numerics_fingerprint
from tests.conftest import tool_env


def _fingerprint_of_a_process(**environment: str) -> dict:
    """The fingerprint as a fresh process with these environment variables reads it."""
    code = "import json; from pipeline.repro.numerics import numerics_fingerprint as f; "
    code += "print(json.dumps(f()))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=tool_env(**environment),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _numpy_dispatch_order() -> list[str]:
    """numpy's dispatchable SIMD targets available here, lowest first (numpy's own order)."""
    try:
        tables = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy 1.26
        tables = importlib.import_module("numpy.core._multiarray_umath")
    features = tables.__cpu_features__
    return [target for target in tables.__cpu_dispatch__ if features[target]]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 SIMD targets")
def test_the_fingerprint_names_the_simd_targets_numpy_chose():
    """The targets numpy dispatches to here, and none that numpy was told not to use."""
    available = _numpy_dispatch_order()
    assert numerics_fingerprint()["numpy_dispatch"] == sorted(available)
    assert available, "an x86-64 numpy dispatches to some SIMD target"
    highest = available[-1]  # implied by no other target, so numpy lets it be disabled
    child = _fingerprint_of_a_process(NPY_DISABLE_CPU_FEATURES=highest)
    assert child["numpy_dispatch"] == sorted(available[:-1])


def test_the_fingerprint_names_the_kernels_torch_runs():
    """torch's CPU capability is what the process runs, not what the CPU offers: forced to
    the plain kernels, the fingerprint says so."""
    assert _fingerprint_of_a_process(ATEN_CPU_CAPABILITY="default")["torch_cpu_capability"] == (
        "DEFAULT"
    )


def test_the_fingerprint_reads_numpy_1_26s_module_name(monkeypatch):
    """numpy < 2 has no ``numpy._core``: the tables must come from ``numpy.core`` instead."""
    expected = numerics_fingerprint()["numpy_dispatch"]
    monkeypatch.setitem(sys.modules, "numpy._core._multiarray_umath", None)  # as on numpy 1.26
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2's numpy.core shim warns
        try:
            fingerprint = numerics_fingerprint()
        except ImportError as error:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"fingerprint needs numpy._core: {error}")
    assert fingerprint["numpy_dispatch"] == expected


def test_the_fingerprint_names_the_pinned_librarys_file_by_its_sha256():
    """Portable numerics' products: the library's build, core and the file's SHA-256."""
    import hashlib

    from pipeline import pinned_blas

    code = "import json; from pipeline.repro.numerics import numerics_fingerprint as f; "
    code += "print(json.dumps(f('portable')['pinned_products']))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=tool_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    products = json.loads(done.stdout)
    library = pinned_blas.library_path()
    assert products["sha256"] == hashlib.sha256(library.read_bytes()).hexdigest()
    assert products["core"] == "Haswell" and "OpenBLAS 0.3.34" in products["config"]
