"""Portable numerics are enforced, not requested: each setting is checked after it is set, and
a process that cannot have one is refused (or, for networks on a GPU, told so and let go on)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline import determinism, pinned_blas
from tests.conftest import tool_env


def _run(code: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=tool_env(**environment),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_portable_numerics_pin_every_setting_in_a_fresh_process():
    code = (
        "import json, torch; from pipeline import determinism, pinned_blas\n"
        "determinism.configure_torch('portable', 1)\n"
        "print(json.dumps([torch.backends.cpu.get_cpu_capability(), determinism.mkl_branch(),"
        " pinned_blas.active().core, torch.backends.mkldnn.enabled]))"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['["AVX2",', "3,", '"Haswell",', "false]"]


def test_a_tensor_operation_before_configure_torch_is_refused():
    """MKL (and ATen) fix their kernels at their first call: too late is an error, never a
    run that is only half portable."""
    code = (
        "import torch; torch.ones(8, 8) @ torch.ones(8, 8)\n"
        "from pipeline.determinism import configure_torch\n"
        "configure_torch('portable', 1)"
    )
    done = _run(code, ATEN_CPU_CAPABILITY="default")
    assert done.returncode != 0
    assert "NumericsError: portable numerics need" in done.stderr
    assert "a tensor operation ran before configure_torch; start the step in a fresh" in (
        done.stderr
    )


def test_only_kernels_chosen_too_early_are_blamed_on_the_process(monkeypatch):
    """A fresh process cures kernels chosen before configure_torch, never a CPU without AVX2
    (what lets e2e-tag hand files to a fresh worker only when that helps)."""
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: True, raising=False)
    with pytest.raises(determinism.NumericsError) as late:
        determinism._pin_cpu_kernels()
    assert late.value.too_late and "a tensor operation ran before" in str(late.value)
    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: False, raising=False)
    with pytest.raises(determinism.NumericsError) as never:
        determinism._pin_cpu_kernels()
    assert not never.value.too_late and "this CPU lacks AVX2" in str(never.value)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(determinism, "mkl_branch", lambda: 1)
    with pytest.raises(determinism.NumericsError) as mkl:
        determinism._pin_cpu_kernels()
    assert mkl.value.too_late


def test_without_the_mkl_setting_the_mkl_check_refuses(monkeypatch):
    """MKL_CBWR is checked, not trusted: a process whose MKL runs another branch stops."""
    monkeypatch.setattr(determinism, "mkl_branch", lambda: 1)
    with pytest.raises(determinism.NumericsError, match="MKL's COMPATIBLE branch"):
        determinism._pin_cpu_kernels()


def test_an_environment_that_asks_for_other_kernels_is_overridden_and_told(capsys, monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    determinism.use_numerics("portable")
    assert "ATEN_CPU_CAPABILITY=avx2 (the environment had avx512)" in capsys.readouterr().err


def test_a_cpu_without_avx2_is_refused_on_the_cpu_but_not_when_networks_run_on_a_gpu(
    monkeypatch, capsys
):
    def no_avx2() -> None:
        raise determinism.NumericsError("portable numerics need ATen's AVX2 kernels")

    monkeypatch.setattr(determinism, "_pin_cpu_kernels", no_avx2)
    with pytest.raises(determinism.NumericsError):
        determinism.configure_torch("portable", 1, device="cpu")
    determinism.configure_torch("portable", 1, device="cuda:0")
    assert "note: CPU kernels not pinned" in capsys.readouterr().err


def test_haswell_kernels_need_avx2_and_fma(monkeypatch):
    monkeypatch.setattr(pinned_blas, "cpu_flags", lambda: {"sse4_2", "avx", "fma"})
    with pytest.raises(pinned_blas.PinnedBlasError, match="lacks avx2.*numerics: native"):
        pinned_blas._require_haswell_capable_cpu()


def test_the_pinned_library_ignores_the_environments_core_type_and_says_so():
    """numpy's OpenBLAS follows OPENBLAS_CORETYPE; the pinned products do not."""
    code = (
        "from pipeline import pinned_blas; import numpy\n"
        "from pipeline.repro.numerics import _openblas_architecture as numpys\n"
        "print(pinned_blas.load().core, numpys())"
    )
    done = _run(code, OPENBLAS_CORETYPE="Prescott")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Haswell", "Katmai"]  # OpenBLAS runs Prescott as Katmai
    assert "OPENBLAS_CORETYPE=Prescott applies to numpy's OpenBLAS" in done.stderr


def test_a_copy_loaded_with_another_core_type_is_refused():
    """Importing scipy_openblas32 loads the same file globally with the CPU's (here: the
    environment's) core type; the pinned loader then gets that copy and must refuse it."""
    code = "import scipy_openblas32\nfrom pipeline import pinned_blas\npinned_blas.load()"
    done = _run(code, OPENBLAS_CORETYPE="Prescott")
    assert done.returncode != 0
    assert "PinnedBlasError" in done.stderr and "not Haswell on one" in done.stderr
    caught = code.replace(
        "pinned_blas.load()",
        "try:\n    pinned_blas.load()\nexcept pinned_blas.PinnedBlasError as error:\n"
        "    print('fresh process helps:', error.too_late)",
    )
    assert _run(caught, OPENBLAS_CORETYPE="Prescott").stdout == "fresh process helps: True\n"


def test_cuda_float32_products_and_convolutions_are_asked_for_in_ieee_not_tf32():
    """torch's defaults leave cuDNN's float32 convolutions in TF32; every process the pipeline
    sets up asks for IEEE float32 in both (read through the fp32_precision API alone: reading
    the legacy allow_tf32 flags after setting it is an error in torch). On the CPU: the
    settings are process-wide, so they are requested whether or not a GPU is present."""
    code = (
        "import json; from pipeline import determinism\n"
        "before = determinism.cuda_fp32_precision()\n"
        "determinism.configure_torch({mode!r}, 1)\n"
        "print(json.dumps([before, determinism.cuda_fp32_precision()]))"
    )
    for mode in determinism.NUMERICS_MODES:
        done = _run(code.format(mode=mode))
        assert done.returncode == 0, done.stderr
        before, after = json.loads(done.stdout)
        assert before["conv"] == "tf32", "torch's default changed: this test proves nothing"
        assert after == {"matmul": "ieee", "conv": "ieee"} == determinism.CUDA_FP32_PRECISION


def test_a_torch_without_the_fp32_precision_settings_is_refused_naming_them(monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.cudnn, "conv", object())  # as before torch 2.9
    with pytest.raises(determinism.NumericsError, match="no fp32_precision settings.*2.11"):
        determinism.use_ieee_float32_on_cuda()


def test_a_setting_that_does_not_hold_is_refused(monkeypatch):
    """Checked after it is set, as every other setting: a torch that ignored it is stopped."""
    monkeypatch.setattr(determinism, "cuda_fp32_precision", lambda: {"matmul": "ieee"})
    with pytest.raises(determinism.NumericsError, match="could not be set"):
        determinism.use_ieee_float32_on_cuda()
