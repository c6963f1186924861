"""Matrix products whose kernel the project pins: OpenBLAS's Haswell sgemm, on one thread.

Why not MKL, which torch uses: its reproducible branches are either slow everywhere
(``COMPATIBLE``: SSE2 without FMA, a quarter of an AVX2 machine's vector width) or
reproducible on Intel CPUs only (``AVX2`` and up; Intel documents that other vendors' CPUs
then run the ``AUTO`` branch). No MKL setting is both fast and vendor-independent.

OpenBLAS picks its kernels once, when the library loads, by the CPU's core type or by
``OPENBLAS_CORETYPE``. Loaded with the Haswell core type, it runs the same AVX2 + FMA
assembly on every x86-64 CPU that has AVX2 and FMA (Intel since Haswell, 2013; AMD since
Excavator, 2015). A product's bytes also depend on its blocking: GEMM_Q, the k-chunk after
which partial sums are added into C, decides the summation order (GEMM_P and GEMM_R block
rows and columns and change no sum). The blocking is not a compile-time constant: it lives in
the active core table and is set when the library loads (``init_parameter``), for the Haswell
table from param.h's defaults (P = Q = 320, R from them and the buffer size). OpenBLAS 0.3.34
added a block there that sets sgemm's P/Q to 384/512 on Zen 4/5 hosts (AMD, 1 MB L2,
AVX-512F), at first on whichever table was active, a forced Haswell included; the pinned
wheel carries the later check that applies it only when the active core is SkylakeX,
CooperLake or Sapphire Rapids, so a forced Haswell keeps 320/320 on every host. With 384/512
every product with k > 320 comes out with other bytes. ``interface/gemm.c`` also has a direct
sgemm path (alpha = 1, beta = 0, row-major, neither operand transposed) guarded by the real
CPU's AVX-512, not by the active table; the pinned wheel's ``cblas_sgemm`` has no such branch,
and the Haswell table's direct kernel and small-matrix permit are empty, so it is unreachable.
(Read in the wheel's disassembly, ``objdump -d``, not promised by OpenBLAS.) On one thread
nothing depends on the thread count.

Since all of this holds for one build and no OpenBLAS API reports the blocking, :func:`load`
checks the arithmetic itself (:func:`check_known_answers`): three products whose bytes expose
the K blocking, the direct path and beta, compared with the SHA-256 of the bytes the pinned
wheel computes. A library that fails is refused with :class:`PinnedBlasError`. The check runs
once per process and costs about 1.5 ms there (1.2-1.7 ms in five fresh processes on this
project's 2-core Intel Xeon, load average 1.2: ``python -c "import time; from pipeline import
pinned_blas as p; b = p.open_library(p.library_path()); t = time.perf_counter();
p.check_known_answers(b); print(time.perf_counter() - t)"``), 0.4-0.6 ms repeated
(``python -m timeit -s "from pipeline import pinned_blas as p; b = p.load()"
"p.check_known_answers(b)"``).

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
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    """The pinned OpenBLAS cannot be had here (missing wheel, a CPU without AVX2/FMA, a copy
    already loaded with another core type, or arithmetic that fails the known answers).

    ``too_late`` is True when only this process is to blame (a copy already loaded with
    another core type), so a fresh process can have it.
    """

    def __init__(self, message: str, *, too_late: bool = False) -> None:
        super().__init__(message)
        self.too_late = too_late


@dataclass(frozen=True)
class KnownAnswer:
    """One product of the self-test and the SHA-256 of the bytes the pinned wheel gives.

    Operands are the first ``m * k`` and ``k * n`` values of :func:`_operand`'s streams 1 and
    2, laid out row-major as op(A) and op(B) are stored; C starts as NaN (beta = 0 must
    overwrite it, not scale it) or as stream 3 (beta = 1 adds to it).
    """

    name: str  # what its bytes expose, for the error message
    trans_a: bool
    trans_b: bool
    m: int
    n: int
    k: int
    beta: float
    sha256: str


KNOWN_ANSWERS = (
    KnownAnswer(
        "an (N,T) product with k = 1024 (the K blocking: a dense layer's forward pass)",
        False, True, 16, 16, 1024, 0.0,
        "e9fa0fa2a999aaff1a592f0e33671aa3b8ad89a1ca9f942ac15c0965e30933b3",
    ),
    KnownAnswer(
        "an (N,N) alpha=1 beta=0 product into a NaN-filled C (the direct path: a backward pass)",
        False, False, 16, 16, 512, 0.0,
        "35dd32db8edc5e3701a90af1013424311da657275d4bcec15465a9c2dca61b32",
    ),
    KnownAnswer(
        "a (T,N) product with k = 1024 added to C (beta = 1: a weight gradient over taps)",
        True, False, 16, 16, 1024, 1.0,
        "b31a2e6a72406d2692a0322cb30ae6237cad075b5c35c7ff2b05b1826ff1aeed",
    ),
)  # fmt: skip
"""The self-test's products. After deliberately changing the pinned wheel (and re-pinning
dvc.lock), print the new hashes with ``python -c "from pipeline import pinned_blas as p;
print(p.known_answers(p.open_library(p.library_path())))"``."""

_OPERAND_VALUES = 16 * 1024
"""Values per operand stream: the largest operand above."""


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
        """What a numerics fingerprint records of the pinned products: the library's build,
        core type and the SHA-256 of its file (a rebuilt wheel of the same version differs)."""
        return {"config": self.config, "core": self.core, "sha256": file_sha256(self.path)}


@functools.cache
def file_sha256(path: Path) -> str:
    """The SHA-256 of a file (the library's: 25 MB, hashed once per process)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def open_library(path: Path) -> PinnedBlas:
    """``path`` loaded with the pinned core type on one thread, its arithmetic unchecked;
    refuses anything but Haswell kernels on one thread (e.g. when another package already
    loaded the same file with the CPU's own core type: the loader then returns that copy)."""
    library = _dlopen_pinned(path)
    _bind(library)
    library.scipy_openblas_set_num_threads(1)
    core = library.scipy_openblas_get_corename().decode()
    threads = library.scipy_openblas_get_num_threads()
    if core != PINNED_CORE or threads != 1:
        raise PinnedBlasError(
            f"{path} runs {core} kernels on {threads} thread(s), not {PINNED_CORE} on one: "
            f"something imported {PACKAGE} before the pipeline could pin it; "
            "start the step in a fresh process",
            too_late=True,
        )
    return PinnedBlas(library, path, library.scipy_openblas_get_config().decode(), core)


def load() -> PinnedBlas:
    """The pinned OpenBLAS, loaded once per process: :func:`open_library`, then
    :func:`check_known_answers`."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        path = library_path()
        _require_haswell_capable_cpu()
        blas = open_library(path)
        check_known_answers(blas)
        _loaded = blas
        return _loaded


def _operand(stream: int, count: int = _OPERAND_VALUES) -> np.ndarray:
    """``count`` float32 values of random sign and 23-bit mantissa in ±[0.5, 1), so that
    every product and sum rounds; their bits are made with integer arithmetic only
    (splitmix64), the same on every CPU."""
    z = np.arange(count, dtype=np.uint64) + np.uint64(stream << 32)
    z = z * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    sign = (z >> np.uint64(63)) << np.uint64(31)
    mantissa = (z >> np.uint64(40)) & np.uint64(0x7FFFFF)
    return (sign | np.uint64(126 << 23) | mantissa).astype(np.uint32).view(np.float32)


def known_answers(blas: PinnedBlas) -> dict[str, str]:
    """The SHA-256 of C's bytes after each product of :data:`KNOWN_ANSWERS`, by name."""
    a, b, start = _operand(1), _operand(2), _operand(3)
    found = {}
    for product in KNOWN_ANSWERS:
        m, n, k = product.m, product.n, product.k
        if product.beta:
            c = start[: m * n].copy()
        else:
            c = np.full(m * n, np.nan, dtype=np.float32)
        blas.sgemm(
            product.trans_a, product.trans_b, m, n, k,
            a.ctypes.data, m if product.trans_a else k,
            b.ctypes.data, k if product.trans_b else n,
            c.ctypes.data, n, beta=product.beta,
        )  # fmt: skip
        found[product.name] = hashlib.sha256(c.tobytes()).hexdigest()
    return found


def check_known_answers(blas: PinnedBlas) -> None:
    """Refuse a library whose products are not the pinned wheel's, bit for bit (another
    build, kernel table or blocking): :class:`PinnedBlasError` names the file and the fix."""
    found = known_answers(blas)
    wrong = [p.name for p in KNOWN_ANSWERS if found[p.name] != p.sha256]
    if wrong:
        raise PinnedBlasError(
            f"{blas.path} ({_wheel_version()}, {blas.core} kernels on one thread) fails the "
            f"pinned products' self-test: {'; '.join(wrong)} came out with other bytes than "
            "the pinned wheel's, so its kernels or blocking differ and no pinned output could "
            "be rebuilt with it. Reinstall the wheel pyproject.toml pins (pip install -e .) "
            "in a fresh virtual environment, or set `numerics: native` in params.yaml"
        )


def _wheel_version() -> str:
    try:
        return f"{PACKAGE.replace('_', '-')} {importlib.metadata.version(PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{PACKAGE} of unknown version"


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
