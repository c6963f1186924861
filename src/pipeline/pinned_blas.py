"""Matrix products whose kernel the project pins: OpenBLAS's Haswell sgemm, on one thread.

Why not MKL, which torch uses: its reproducible branches are either slow everywhere
(``COMPATIBLE``: SSE2 without FMA, a quarter of an AVX2 machine's vector width) or
reproducible on Intel CPUs only (``AVX2`` and up; Intel documents that other vendors' CPUs
then run the ``AUTO`` branch). No MKL setting is both fast and vendor-independent.

OpenBLAS picks its kernels once, when the library loads, by the CPU's core type or by
``OPENBLAS_CORETYPE``. Loaded with the Haswell core type, it runs the same AVX2 + FMA
assembly with the same blocking on every x86-64 CPU that has AVX2 and FMA (Intel since
Haswell, 2013; AMD since Excavator, 2015): the Haswell table's GEMM_P and GEMM_Q are compile-
time constants and GEMM_R is derived from them, so nothing in a product's summation order
depends on the CPU's caches or vendor. On one thread nothing depends on the thread count.

The library is the ``scipy-openblas32`` wheel, pinned exactly by the CPU reference's
``constraints/cpu-reference.txt`` (pyproject.toml admits later releases). It is
loaded privately (``RTLD_LOCAL``) by its path with ``OPENBLAS_CORETYPE=Haswell`` and one
thread set for the moment of loading, then the environment is put back as it was, so
numpy's own OpenBLAS (another library file) keeps following the environment, an
``OPENBLAS_CORETYPE`` a machine sets for its own reasons included; :func:`load` says so on
stderr when the environment asks for another core type. The module ``scipy_openblas32`` is
never imported: importing it loads the library globally with the CPU's own core type.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

PINNED_CORE = "Haswell"
"""The OpenBLAS core type whose kernels every pinned product runs."""

PACKAGE = "scipy_openblas32"
LIBRARY_FILE = "libscipy_openblas.so"
SYMBOL_PREFIX = "scipy_"
"""The wheel's library file and the prefix of its exported symbols."""

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
"""CBLAS enum values (cblas.h)."""

_LOAD_ENVIRONMENT = {"OPENBLAS_CORETYPE": PINNED_CORE, "OPENBLAS_NUM_THREADS": "1"}
"""Set only while the library loads: OpenBLAS reads them in its constructor."""

_REQUIRED_CPU_FLAGS = ("avx2", "fma")


class PinnedBlasError(RuntimeError):
    """The pinned OpenBLAS cannot be had here (missing wheel, a CPU without AVX2/FMA, or a
    copy already loaded with another core type)."""


@dataclass(frozen=True)
class PinnedBlas:
    """The loaded library: ``sgemm`` on raw pointers, and what was loaded (for fingerprints)."""

    library: ctypes.CDLL
    path: Path
    config: str  # e.g. "OpenBLAS 0.3.34... DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
    core: str

    def sgemm(
        self,
        trans_a: bool,
        trans_b: bool,
        m: int,
        n: int,
        k: int,
        a: int,
        lda: int,
        b: int,
        ldb: int,
        c: int,
        ldc: int,
        beta: float = 0.0,
    ) -> None:
        """Row-major ``C = op(A) @ op(B) + beta * C`` in float32, on data pointers (bytes
        addresses): ``op(A)`` is m x k, ``op(B)`` k x n, C m x n. The caller keeps the
        arrays alive and contiguous along their rows."""
        self.library.scipy_cblas_sgemm(
            _ROW_MAJOR,
            _TRANS if trans_a else _NO_TRANS,
            _TRANS if trans_b else _NO_TRANS,
            m,
            n,
            k,
            1.0,
            a,
            lda,
            b,
            ldb,
            beta,
            c,
            ldc,
        )

    def describe(self) -> dict[str, str]:
        """What a numerics fingerprint records of the pinned products."""
        return {"config": self.config, "core": self.core}


_loaded: PinnedBlas | None = None
_lock = threading.Lock()


def library_path() -> Path:
    """The wheel's library file, found without importing the package (see the module doc)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PinnedBlasError(
            f"portable numerics need the {PACKAGE} wheel (a requirement of pyproject.toml); "
            "reinstall the project (pip install -e . -c constraints/cpu-reference.txt) or set "
            "`numerics: native` in params.yaml"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "lib" / LIBRARY_FILE
    if not path.is_file():
        raise PinnedBlasError(f"{path}: missing from the {PACKAGE} wheel; reinstall it")
    return path


def cpu_flags() -> set[str]:
    """This CPU's feature flags as Linux lists them (empty where /proc/cpuinfo is absent)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _require_haswell_capable_cpu() -> None:
    """Haswell kernels on a CPU without AVX2 or FMA would die on an illegal instruction."""
    missing = [flag for flag in _REQUIRED_CPU_FLAGS if flag not in cpu_flags()]
    if missing:
        raise PinnedBlasError(
            f"portable numerics run OpenBLAS's {PINNED_CORE} kernels, which need AVX2 and FMA; "
            f"this CPU lacks {', '.join(missing)}; set `numerics: native` in params.yaml"
        )


def _dlopen_pinned(path: Path) -> ctypes.CDLL:
    """Load the library with the pinned core type and one thread, then restore the
    environment exactly as it was (only this library's constructor reads it meanwhile)."""
    saved = {name: os.environ.get(name) for name in _LOAD_ENVIRONMENT}
    chosen = saved["OPENBLAS_CORETYPE"]
    if chosen is not None and chosen.lower() != PINNED_CORE.lower():
        print(
            f"note: OPENBLAS_CORETYPE={chosen} applies to numpy's OpenBLAS; the networks' "
            f"products use the project's pinned {PINNED_CORE} kernels (portable numerics)",
            file=sys.stderr,
        )
    os.environ.update(_LOAD_ENVIRONMENT)
    try:
        return ctypes.CDLL(str(path), ctypes.RTLD_LOCAL)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _bind(library: ctypes.CDLL) -> None:
    """Argument types, so a wrong call fails in Python instead of corrupting memory."""
    size, pointer, real = ctypes.c_int, ctypes.c_void_p, ctypes.c_float
    sgemm = library.scipy_cblas_sgemm
    sgemm.restype = None
    sgemm.argtypes = [size] * 6 + [real, pointer, size, pointer, size, real, pointer, size]
    library.scipy_openblas_get_corename.restype = ctypes.c_char_p
    library.scipy_openblas_get_config.restype = ctypes.c_char_p
    library.scipy_openblas_set_num_threads.argtypes = [ctypes.c_int]
    library.scipy_openblas_get_num_threads.restype = ctypes.c_int


def load() -> PinnedBlas:
    """The pinned OpenBLAS, loaded once per process; refuses anything but Haswell kernels on
    one thread (e.g. when another package already loaded the same file with the CPU's own
    core type: the loader then returns that copy)."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        path = library_path()
        _require_haswell_capable_cpu()
        library = _dlopen_pinned(path)
        _bind(library)
        library.scipy_openblas_set_num_threads(1)
        core = library.scipy_openblas_get_corename().decode()
        threads = library.scipy_openblas_get_num_threads()
        if core != PINNED_CORE or threads != 1:
            raise PinnedBlasError(
                f"{path} runs {core} kernels on {threads} thread(s), not {PINNED_CORE} on one: "
                f"something imported {PACKAGE} before the pipeline could pin it; "
                "start the step in a fresh process"
            )
        config = library.scipy_openblas_get_config().decode()
        _loaded = PinnedBlas(library, path, config, core)
        return _loaded


_active: PinnedBlas | None = None


def activate() -> PinnedBlas:
    """Route the networks' products through the pinned library in this process (portable
    numerics; :func:`pipeline.determinism.configure_torch` calls it)."""
    global _active
    _active = load()
    return _active


def deactivate() -> None:
    """Back to torch's own products (native numerics)."""
    global _active
    _active = None


def active() -> PinnedBlas | None:
    """The pinned library when the networks' products must use it, else None."""
    return _active
