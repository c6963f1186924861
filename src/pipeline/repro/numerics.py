"""What decides the floating-point bits of a result on this machine.

The pipeline is deterministic: the same inputs give the same bytes on the same machine. Across
machines, three libraries pick SIMD kernels at run time, and different kernels round
differently: numpy's ufuncs (e.g. ``exp``, ``log1p``) and OpenBLAS (the mel filterbank
product) in the mel caches, torch's CPU kernels and oneDNN in the models. The fingerprint
below names those choices, so a pinned result can say which machines it is exact for; with
portable numerics it also names the pinned products' library (:mod:`pipeline.pinned_blas`:
its build, core type and the SHA-256 of its file, since a rebuilt wheel of the same version
may compute otherwise).
"""

from __future__ import annotations

import importlib
import platform
from pathlib import Path
from typing import Any


def _openblas_architecture() -> str:
    """The kernel family numpy's OpenBLAS dispatched to (e.g. Haswell, SkylakeX, Zen)."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("internal_api") == "openblas" and "numpy" in str(pool.get("filepath", "")):
            return str(pool.get("architecture"))
    return "unknown"


def _numpy_cpu_tables() -> tuple[list[str], dict[str, bool]]:
    """numpy's dispatchable SIMD targets and this CPU's features.

    They live in the private ``_multiarray_umath`` module, under ``numpy._core`` since numpy 2
    and ``numpy.core`` before (pyproject allows numpy 1.26), so both names are tried.
    """
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return list(module.__cpu_dispatch__), dict(module.__cpu_features__)
    return [], {}


def cpu_model() -> str:
    """The CPU's model name (what benchmark reports name the machine by)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def numerics_fingerprint(mode: str | None = None) -> dict[str, Any]:
    """Library versions and the SIMD kernels they chose: equal fingerprints, equal bits.

    ``mode`` (portable or native) first configures torch as the pipeline's steps do, so the
    fingerprint names the kernels a step runs, not a bare interpreter's; it must then be
    called before the process's first tensor operation. Without it, the process's current
    choices are read.
    """
    import numpy as np
    import soundfile
    import torch

    from pipeline import pinned_blas
    from pipeline.determinism import NumericsError, configure_torch, mkl_branch

    refused = None
    if mode is not None:
        try:
            configure_torch(mode, threads=1)
        except NumericsError as error:
            refused = str(error)
    dispatch, features = _numpy_cpu_tables()
    products = pinned_blas.active()
    fingerprint = {
        "machine": platform.machine(),
        "numpy": np.__version__,
        "numpy_dispatch": sorted(f for f in dispatch if features.get(f)),
        "openblas": _openblas_architecture(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_branch": mkl_branch(),
        "pinned_products": products.describe() if products else None,
        "soundfile": soundfile.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
    }
    if mode is not None:
        fingerprint["numerics"] = mode if refused is None else f"{mode} refused: {refused}"
    return fingerprint
