"""Same inputs, same bits: seeds, deterministic kernels and kernels that do not depend on the CPU.

torch picks its CPU kernels at run time by the CPU it finds, and different kernels round
differently, so a model trained on an Intel Xeon and one trained on an AMD EPYC part ways
after a few updates even with the same seed. What decides the bits of a CPU training run:

* ATen's own kernels (every element-wise operation, pooling, reductions), compiled once per
  SIMD level (default, AVX2, AVX-512) and chosen by the CPU's capability;
* the matrix products of the convolutions and dense layers;
* oneDNN (mkldnn) and NNPACK, convolution libraries whose kernels follow the CPU, and MKL,
  whose code path follows the CPU's vendor and ISA, wherever torch's own convolutions or
  products still run.

``portable`` numerics (``numerics: portable`` in params.yaml, the default) fix each one:
ATen's AVX2 kernels (the same code on every x86-64 CPU with AVX2: Intel since 2013, AMD since
2015); the networks' products through the pinned OpenBLAS (:mod:`pipeline.pinned_blas`:
Haswell kernels, one thread; :mod:`pipeline.training.products`); oneDNN and NNPACK off and
MKL in its ``COMPATIBLE`` branch for torch's own convolutions and products (the packed
engine's vmapped step). Each is checked after it is set, so a run is refused rather than
left half portable. ``native`` keeps the fastest kernels of the machine, reproducible on that
machine only.

ATen reads its capability at its first operation and MKL its mode at its first call (not when
torch is imported), so :func:`configure_torch` must run before the first tensor operation of
the process. Portable numerics govern CPU kernels: a run whose networks live on a GPU (whose
bits no CPU setting decides) goes on, with a note, on a CPU that cannot have them.

On CUDA, cuDNN runs float32 convolutions in TF32 by default on Ampere and later GPUs (a
10-bit mantissa, a relative rounding of 2^-11 instead of float32's 2^-24), so the packed and
graphed engines could agree with the looped one, and a GPU score with a CPU score, no closer.
Every process :func:`configure_torch` sets up asks for IEEE float32 in cuDNN's convolutions and
cuBLAS's matrix products, through torch's ``fp32_precision`` settings alone (mixing them with
the legacy ``allow_tf32`` flags is an error in torch), checks that they hold, and training
records them in each model's config.json (:func:`cuda_fp32_precision`).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

NUMERICS_MODES = ("portable", "native")

PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}
"""Read by torch (ATen) and MKL when they first run: the kernels portable numerics pin."""

PORTABLE_CAPABILITY = "AVX2"
MKL_CBWR_COMPATIBLE = 3
"""What MKL reports for its ``COMPATIBLE`` branch (mkl_cbwr_get(MKL_CBWR_BRANCH), mkl.h)."""
_MKL_CBWR_BRANCH = 1


CUDA_FP32_PRECISION = {"matmul": "ieee", "conv": "ieee"}
"""What float32 matrix products (cuBLAS) and convolutions (cuDNN) run in on CUDA: IEEE float32,
never TF32."""


class NumericsError(RuntimeError):
    """Portable numerics cannot be had in this process (too late, or the CPU lacks AVX2).

    ``too_late`` is True when only this process is to blame (its kernels were chosen before
    :func:`configure_torch`), so a fresh process on this machine can have them.
    """

    def __init__(self, message: str, *, too_late: bool = False) -> None:
        super().__init__(message)
        self.too_late = too_late


def cpu_has_avx2() -> bool:
    """Whether the CPU has AVX2, whatever kernels torch chose (torch's private probe; the
    flags Linux lists where this torch lacks it; assumed where neither can tell)."""
    import torch

    probe = getattr(torch.cpu, "_is_avx2_supported", None)
    if probe is not None:
        return bool(probe())
    from pipeline.pinned_blas import cpu_flags

    flags = cpu_flags()
    return not flags or "avx2" in flags


def use_numerics(mode: str) -> None:
    """Choose the kernels for this process: call before its first torch operation.

    An environment that asked for other kernels is overridden, and told so on stderr.
    """
    if mode not in NUMERICS_MODES:
        raise ValueError(f"numerics: {mode!r} is not one of {', '.join(NUMERICS_MODES)}")
    if mode == "portable":
        for name, value in PORTABLE_ENVIRONMENT.items():
            chosen = os.environ.get(name)
            if chosen is not None and chosen != value:
                print(
                    f"note: portable numerics set {name}={value} (the environment had {chosen})",
                    file=sys.stderr,
                )
        os.environ.update(PORTABLE_ENVIRONMENT)


def mkl_branch() -> int | None:
    """MKL's conditional-numerical-reproducibility branch in this process (3: COMPATIBLE,
    1: off, 2: auto...), read from the MKL that torch links; None where torch has no MKL."""
    import torch

    if not torch.backends.mkl.is_available():
        return None
    library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
    for name in ("mkl_cbwr_get", "mkl_serv_cbwr_get"):  # MKL's name; the one torch exports
        function = getattr(library, name, None)
        if function is not None:
            function.restype, function.argtypes = ctypes.c_int, [ctypes.c_int]
            return int(function(_MKL_CBWR_BRANCH))
    raise NumericsError("torch links MKL but exports no mkl_cbwr_get to check its mode")


def _pin_cpu_kernels() -> None:
    """Set and check every portable setting; :class:`NumericsError` names the one missing."""
    import torch

    from pipeline import pinned_blas

    capability = torch.backends.cpu.get_cpu_capability()
    if capability != PORTABLE_CAPABILITY:
        needed = f"portable numerics need ATen's {PORTABLE_CAPABILITY} kernels, but torch runs"
        if cpu_has_avx2():
            raise NumericsError(
                f"{needed} {capability} here: a tensor operation ran before configure_torch; "
                "start the step in a fresh process",
                too_late=True,
            )
        raise NumericsError(
            f"{needed} {capability} here (this CPU lacks AVX2); set `numerics: native` in "
            "params.yaml"
        )
    branch = mkl_branch()
    if branch is not None and branch != MKL_CBWR_COMPATIBLE:
        raise NumericsError(
            f"portable numerics need MKL's COMPATIBLE branch ({MKL_CBWR_COMPATIBLE}), but MKL "
            f"runs branch {branch} here (MKL_CBWR was not set before MKL's first call); "
            "start the step in a fresh process",
            too_late=True,
        )
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    try:
        pinned_blas.activate()
    except pinned_blas.PinnedBlasError as error:
        raise NumericsError(str(error), too_late=error.too_late) from error


def _use_deterministic_algorithms(torch: ModuleType) -> None:
    """``torch.use_deterministic_algorithms(True)`` without its import of torch's compiler
    (2.4 s at every job's start, to set a flag of the compiler, which the pipeline never
    uses); the switch of the eager kernels is the same call."""
    switch = getattr(torch._C, "_set_deterministic_algorithms", None)
    if switch is None:  # another torch: the public function
        torch.use_deterministic_algorithms(True)
    else:
        switch(True)
    if not torch.are_deterministic_algorithms_enabled():
        raise NumericsError("torch's deterministic algorithms could not be turned on")


def _fp32_settings(torch: ModuleType) -> dict[str, object]:
    """The objects whose ``fp32_precision`` governs each op of :data:`CUDA_FP32_PRECISION`."""
    return {"matmul": torch.backends.cuda.matmul, "conv": torch.backends.cudnn.conv}


def cuda_fp32_precision() -> dict[str, str]:
    """The float32 precision CUDA's matrix products and convolutions run in here ("ieee" or
    "tf32"; what config.json records). Read without starting CUDA."""
    import torch

    try:
        return {op: str(s.fp32_precision) for op, s in _fp32_settings(torch).items()}
    except AttributeError as error:
        raise NumericsError(
            f"torch {torch.__version__} has no fp32_precision settings "
            f"(torch.backends.cuda.matmul, torch.backends.cudnn.conv: torch 2.9 and later); "
            "install torch 2.11 or later"
        ) from error


def use_ieee_float32_on_cuda() -> None:
    """Ask for IEEE float32 in CUDA's convolutions and matrix products, and check it holds."""
    import torch

    cuda_fp32_precision()  # refuses a torch without the settings, naming them
    for op, setting in _fp32_settings(torch).items():
        setting.fp32_precision = CUDA_FP32_PRECISION[op]
    if cuda_fp32_precision() != CUDA_FP32_PRECISION:
        raise NumericsError(
            f"CUDA's float32 precision could not be set to {CUDA_FP32_PRECISION}: torch reports "
            f"{cuda_fp32_precision()}"
        )


def empty_to_overwrite(*size: int, **options: Any) -> Any:
    """``torch.empty`` for a tensor whose every element is written before any is read.

    Deterministic algorithms fill every ``torch.empty`` (NaN, or an integer type's largest
    value) so that reading uninitialised memory cannot differ between runs; for such a tensor
    the fill is a wasted pass over its memory, at every step for the pinned products' outputs
    and gradients (:mod:`pipeline.training.products`). Every other allocation keeps the fill.
    """
    import torch
    from torch.utils import deterministic

    fill = deterministic.fill_uninitialized_memory
    deterministic.fill_uninitialized_memory = False
    try:
        return torch.empty(*size, **options)
    finally:
        deterministic.fill_uninitialized_memory = fill


def configure_torch(mode: str, threads: int, seed: int | None = None, device: str = "cpu") -> None:
    """The numerics ``mode``, deterministic algorithms, IEEE float32 on CUDA (no TF32), a fixed
    thread count and the seed.

    ``device`` is where the networks will run (a torch device string): on a GPU, a CPU that
    cannot have portable kernels is noted and the run goes on.
    """
    from pipeline import pinned_blas

    use_numerics(mode)
    import torch

    if mode == "portable":
        try:
            _pin_cpu_kernels()
        except NumericsError as error:
            if not str(device).startswith("cuda"):
                raise
            print(
                f"note: CPU kernels not pinned ({error}); the networks run on {device}",
                file=sys.stderr,
            )
    else:
        pinned_blas.deactivate()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _use_deterministic_algorithms(torch)
    use_ieee_float32_on_cuda()
    torch.set_num_threads(threads)
    if seed is not None:
        torch.manual_seed(seed)
