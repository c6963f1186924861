"""Same inputs, same bits: seeds, deterministic kernels and kernels that do not depend on the CPU.

torch picks its CPU kernels at run time by the CPU it finds, and different kernels round
differently, so a model trained on an Intel Xeon and one trained on an AMD EPYC part ways
after a few updates even with the same seed. Three choices decide the bits:

* ATen's own kernels, compiled once per SIMD level (default, AVX2, AVX-512) and chosen by the
  CPU's capability;
* oneDNN (mkldnn), which runs the convolutions with a JIT-compiled kernel whose ISA *and*
  blocking follow the CPU (its cache sizes), and NNPACK, another convolution library;
* MKL, which runs the matrix products (and the convolutions without oneDNN) along a code path
  chosen by vendor and ISA.

``portable`` numerics (``numerics: portable`` in params.yaml, the default) fix all three:
ATen's AVX2 kernels (the same code on every x86-64 CPU with AVX2: Intel since 2013, AMD
since 2015), oneDNN and NNPACK off (convolutions go through ATen's im2col and MKL's GEMM) and
MKL's conditional numerical reproducibility in its ``COMPATIBLE`` branch, which Intel
documents as giving the same results on Intel and compatible processors. They cost speed
(``benchmarks/numerics_portability.py`` measures how much); ``native`` keeps the fastest
kernels of the machine, whose results are reproducible on that machine only.

ATen reads its capability at its first operation and MKL its mode at its first call (not when
torch is imported), so :func:`configure_torch` must run before the first tensor operation of
the process; it checks the capability ATen ended up with and refuses a run that would be only
half portable.
"""

from __future__ import annotations

import os

NUMERICS_MODES = ("portable", "native")

PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}
"""Read by torch (ATen) and MKL when they first run: the kernels portable numerics pin."""

PORTABLE_CAPABILITY = "AVX2"


class NumericsError(RuntimeError):
    """Portable numerics cannot be had in this process (too late, or the CPU lacks AVX2)."""


def use_numerics(mode: str) -> None:
    """Choose the kernels for this process: call before its first torch operation."""
    if mode not in NUMERICS_MODES:
        raise ValueError(f"numerics: {mode!r} is not one of {', '.join(NUMERICS_MODES)}")
    if mode == "portable":
        os.environ.update(PORTABLE_ENVIRONMENT)


def configure_torch(mode: str, threads: int, seed: int | None = None) -> None:
    """The numerics ``mode``, deterministic algorithms, a fixed thread count and the seed."""
    use_numerics(mode)
    import torch

    if mode == "portable":
        capability = torch.backends.cpu.get_cpu_capability()
        if capability != PORTABLE_CAPABILITY:
            raise NumericsError(
                f"portable numerics need ATen's {PORTABLE_CAPABILITY} kernels, but torch runs "
                f"{capability} here (a CPU without AVX2, or a tensor operation ran before "
                "configure_torch); set `numerics: native` in params.yaml"
            )
        torch.backends.mkldnn.enabled = False
        torch.backends.nnpack.set_flags(False)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    if seed is not None:
        torch.manual_seed(seed)
