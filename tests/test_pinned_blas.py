"""The pinned OpenBLAS checks its own arithmetic when it loads: the known answers pass on the
pinned wheel and refuse other kernels, other blocking and a stand-in sgemm."""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
import sys

import numpy as np
import pytest

from pipeline import pinned_blas
from tests.conftest import REPO, tool_env

FIX = "Reinstall the wheel pyproject.toml pins (pip install -e .)"


def _run(code: str, **environment: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (a library loaded here stays loaded), from the repo."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=tool_env(**environment),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_pinned_wheel_gives_the_known_answers():
    blas = pinned_blas.load()
    assert pinned_blas.known_answers(blas) == {p.name: p.sha256 for p in pinned_blas.KNOWN_ANSWERS}
    pinned_blas.check_known_answers(blas)


def test_the_fingerprint_names_the_library_files_sha256():
    described = pinned_blas.load().describe()
    expected = hashlib.sha256(pinned_blas.library_path().read_bytes()).hexdigest()
    assert described["sha256"] == expected and described["core"] == "Haswell"


def test_the_operands_round_in_every_product_and_are_made_without_float_arithmetic():
    """Exact sums would hide the summation order: every value has a random sign and 23
    random mantissa bits, its low bit included."""
    values = pinned_blas._operand(1)
    assert values.dtype == np.float32
    assert np.all((np.abs(values) >= 0.5) & (np.abs(values) < 1.0))
    assert (values < 0).mean() == pytest.approx(0.5, abs=0.02)
    assert (values.view(np.uint32) & 1).mean() == pytest.approx(0.5, abs=0.02)
    assert not np.array_equal(values, pinned_blas._operand(2))


def _float_view(address: int, count: int) -> np.ndarray:
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address))


class _StandIn:
    """An sgemm with the CBLAS signature that computes what ``rule`` says."""

    def __init__(self, rule) -> None:  # noqa: ANN001
        self.rule = rule

    def scipy_cblas_sgemm(self, _order, ta, tb, m, n, k, _alpha, a, lda, b, ldb, beta, c, ldc):  # noqa: ANN001, ANN201
        trans_a, trans_b = ta == 112, tb == 112
        op_a = _float_view(a, m * k).reshape((k, m) if trans_a else (m, k))
        op_b = _float_view(b, k * n).reshape((n, k) if trans_b else (k, n))
        out = _float_view(c, m * n).reshape(m, n)
        out[:] = self.rule(op_a.T if trans_a else op_a, op_b.T if trans_b else op_b, beta, out)


def _stand_in(rule) -> pinned_blas.PinnedBlas:  # noqa: ANN001
    real = pinned_blas.load()
    return pinned_blas.PinnedBlas(_StandIn(rule), real.path, real.config, real.core)


def test_an_exactly_rounded_stand_in_is_refused_naming_the_library_and_the_fix():
    """A more accurate sgemm is still another sgemm: every product's bytes differ."""

    def exact(a, b, beta, c):  # noqa: ANN001, ANN202
        start = beta * c.astype(np.float64) if beta else 0.0
        return (a.astype(np.float64) @ b.astype(np.float64) + start).astype(np.float32)

    with pytest.raises(pinned_blas.PinnedBlasError) as refused:
        pinned_blas.check_known_answers(_stand_in(exact))
    message = str(refused.value)
    assert message.startswith(f"{pinned_blas.library_path()} (scipy-openblas32 0.3.34")
    assert all(p.name in message for p in pinned_blas.KNOWN_ANSWERS)
    assert FIX in message and "numerics: native" in message


class _ScalesC:
    """The pinned library's sgemm, except that C is scaled by beta instead of overwritten
    when beta is 0 (C = 0 * C + AB keeps a NaN in C)."""

    def __init__(self, real: pinned_blas.PinnedBlas) -> None:
        self.real = real.library

    def scipy_cblas_sgemm(self, *arguments):  # noqa: ANN002, ANN201
        m, n, beta, c = arguments[3], arguments[4], arguments[11], arguments[12]
        before = _float_view(c, m * n).copy()
        self.real.scipy_cblas_sgemm(*arguments)
        if beta == 0:
            _float_view(c, m * n)[:] += np.float32(0) * before


def test_beta_zero_must_overwrite_a_nan_filled_c():
    """Exactly the beta = 0 products, whose C starts as NaN, are refused."""
    real = pinned_blas.load()
    nan_keeping = pinned_blas.PinnedBlas(_ScalesC(real), real.path, real.config, real.core)
    with pytest.raises(pinned_blas.PinnedBlasError) as refused:
        pinned_blas.check_known_answers(nan_keeping)
    named = [p.beta for p in pinned_blas.KNOWN_ANSWERS if p.name in str(refused.value)]
    assert named == [0.0, 0.0]


_OTHER_KERNELS = """
import ctypes, os, sys
from pipeline import pinned_blas as p
path = p.library_path()
os.environ["OPENBLAS_CORETYPE"], os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[1], "1"
library = ctypes.CDLL(str(path), ctypes.RTLD_LOCAL)
p._bind(library)
core = library.scipy_openblas_get_corename().decode()
try:
    p.check_known_answers(p.PinnedBlas(library, path, "", core))
except p.PinnedBlasError as error:
    print("refused", core, error)
else:
    print("passed", core)
"""


@pytest.mark.parametrize(
    ("coretype", "reported"),
    [("Prescott", "Katmai"), ("Sandybridge", "Sandybridge"), ("SkylakeX", "SkylakeX")],
)
def test_another_kernel_table_is_refused(coretype, reported):
    """The wheel's other tables (SSE3; AVX without FMA; AVX-512 with P = Q = 448) on this
    very file: the known answers tell each from Haswell. (Zen is the Haswell table here.)"""
    if coretype == "SkylakeX" and "avx512f" not in pinned_blas.cpu_flags():
        pytest.skip("SkylakeX kernels need AVX-512F, which this CPU lacks")
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_KERNELS, coretype],
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"refused {reported} "), done.stdout
    assert FIX in done.stdout


def test_haswell_kernels_pass_in_a_fresh_process_whatever_the_environment_asks():
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_KERNELS, "Haswell"],
        env=tool_env(OPENBLAS_CORETYPE="Prescott"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip() == "passed Haswell", done.stdout + done.stderr


_ZEN4_BLOCKING = """
from pipeline import pinned_blas as p
from tests.openblas_table import set_sgemm_blocking
opened = p._dlopen_pinned

def with_zen4_blocking(path):
    library = opened(path)
    print("before", set_sgemm_blocking(library, path, 384, 512))
    return library

p._dlopen_pinned = with_zen4_blocking
try:
    p.load()
except p.PinnedBlasError as error:
    print("refused", error)
else:
    print("loaded")
"""


def test_haswell_kernels_with_zen4_blocking_are_refused_when_they_load():
    """What OpenBLAS 0.3.34 did to a forced Haswell on Zen 4/5 hosts: same kernels, same core
    name, sgemm P/Q 384/512. The core-name check passes; the known answers do not."""
    done = _run(_ZEN4_BLOCKING)
    assert done.returncode == 0, done.stderr
    before, refused = done.stdout.splitlines()[:2]
    assert before == "before [320, 320, 25872]"  # the Haswell table's P, Q, R
    assert refused.startswith(f"refused {pinned_blas.library_path()} (scipy-openblas32 ")
    assert "Haswell kernels on one thread) fails" in refused
    k_blocking, direct, accumulated = (p.name for p in pinned_blas.KNOWN_ANSWERS)
    assert k_blocking in refused and direct in refused and accumulated in refused
