"""A test's way into a loaded OpenBLAS's active core table, to give it other blocking.

OpenBLAS exports no setter for GEMM_P/Q/R: they are fields of the core table that the
not-exported pointer ``gotoblas`` points at, filled when the library loads. The wheel keeps
its local symbols (``.symtab``), so the pointer's address is found there; the fields' offsets
are the ones ``cblas_sgemm`` reads (``objdump -d``: sgemm_p at +0x20, sgemm_q at +0x24),
checked against the Haswell defaults before anything is written.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

SGEMM_P, SGEMM_Q, SGEMM_R = 8, 9, 10
"""Indices of sgemm's P, Q and R among the table's leading C ints."""
_OFFSET_A, _ALIGN = 5, 7
BUFFER_SIZE = 32 << 20
"""OpenBLAS's GEMM buffer: R is derived from it, P and Q (``init_parameter``)."""

_SHT_SYMTAB, _SYMBOL = 2, struct.Struct("<IBBHQQ")


def symbol_offset(library_file: Path, name: str) -> int:
    """The address of a (local or global) symbol relative to the library's load address."""
    data = library_file.read_bytes()
    (section_headers,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, section_headers + i * entry_size)
        for i in range(count)
    ]
    for _, kind, _, _, offset, size, link, *_ in sections:
        if kind != _SHT_SYMTAB:
            continue
        strings_offset, strings_size = sections[link][4], sections[link][5]
        strings = data[strings_offset : strings_offset + strings_size]
        position = strings.find(b"\0" + name.encode() + b"\0")
        if position < 0:
            break
        for name_index, *_, value, _ in _SYMBOL.iter_unpack(data[offset : offset + size]):
            if name_index == position + 1:
                return value
    raise LookupError(f"{library_file}: no symbol {name} in its .symtab")


def active_table(library: ctypes.CDLL, library_file: Path) -> ctypes.Array:
    """The first ints of the core table this loaded copy of the library computes with."""
    base = ctypes.cast(library.scipy_cblas_sgemm, ctypes.c_void_p).value - symbol_offset(
        library_file, "scipy_cblas_sgemm"
    )
    table = ctypes.c_void_p.from_address(base + symbol_offset(library_file, "gotoblas")).value
    return (ctypes.c_int * 16).from_address(table)


def r_for(table: ctypes.Array, p: int, q: int) -> int:
    """GEMM_R as ``init_parameter`` derives it from P and Q (kernel/setparam-ref.c)."""
    align = table[_ALIGN]
    packed_a = (p * q * 4 + table[_OFFSET_A] + align) & ~align
    return ((BUFFER_SIZE - packed_a) // (q * 4) - 15) & ~15


def set_sgemm_blocking(library: ctypes.CDLL, library_file: Path, p: int, q: int) -> list[int]:
    """Give the active table sgemm blocking P x Q (R derived as OpenBLAS does); returns the
    P, Q, R it had. Refuses a table whose R is not derived as expected (another layout)."""
    table = active_table(library, library_file)
    before = [table[SGEMM_P], table[SGEMM_Q], table[SGEMM_R]]
    if r_for(table, before[0], before[1]) != before[2]:
        raise LookupError(f"{library_file}: core table layout not understood: {list(table)}")
    table[SGEMM_P], table[SGEMM_Q], table[SGEMM_R] = p, q, r_for(table, p, q)
    return before
