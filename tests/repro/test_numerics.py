"""The numerics fingerprint: what decides floating-point bits, read on numpy 1.26 and 2."""

from __future__ import annotations

import platform
import sys
import warnings

import pytest

from pipeline.repro.numerics import numerics_fingerprint


def test_the_fingerprint_names_the_simd_targets_numpy_chose():
    fingerprint = numerics_fingerprint()
    if platform.machine() in ("x86_64", "AMD64"):
        assert fingerprint["numpy_dispatch"], "an x86-64 numpy dispatches to some SIMD target"
    assert fingerprint["torch_cpu_capability"]


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
