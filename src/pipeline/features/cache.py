"""Decode every clip once into an int16 audio cache, and compute mel caches from it.

Caches are flat memory-mapped binaries plus a CSV index, written clip by clip, so a
24 GiB machine prepares full MagnaTagATune (about 24 GB of int16 audio) without holding it
in memory. Unusable clips are left out and listed in skipped.csv with their reason.
Decoding and mel computation run in parallel across the cores the rule is given.

Layout of a cache ``NAME``: ``NAME.bin`` (raw little-endian values, C order) and
``NAME.csv`` (one row per clip: clip_id, split, offset and count along the first axis).
The index is renamed into place after the data, so an index on disk always describes the
data beside it; :func:`open_cache` refuses a pair whose sizes disagree.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from pipeline import atomic
from pipeline.constants import N_MELS
from pipeline.data.audio import UnusableAudio, decode_clip, to_int16
from pipeline.data.split import read_split
from pipeline.features.mel import log_mel_spectrogram

SKIPPED_COLUMNS = ["clip_id", "mp3_path", "reason", "detail"]


def _one_blas_thread() -> None:
    """Worker initialiser: the workers are the parallelism, so each one's BLAS gets one thread.

    Snakemake sets OPENBLAS_NUM_THREADS to the rule's threads, which every worker inherits:
    ``workers`` processes would each run that many spinning BLAS threads for the mel filterbank
    product on ``workers`` cores, which made the mel caches about 1.6x slower on 2 cores. A BLAS
    call's result does not depend on its thread count (threads split the output, never a dot
    product), so the caches keep their bytes.
    """
    threadpool_limits(1, user_api="blas")


def _parallel_map(function: Callable, items: list, workers: int, desc: str) -> Iterator:
    """Ordered map over items with a progress bar; in-process when workers == 1.

    At most ``4 * workers`` items are in flight, so finished results waiting behind a slow
    one never pile up in memory (a decoded MTAT clip is about 1 MB; there are 25,863).
    """
    bar = tqdm(total=len(items), desc=desc, unit="clip", file=sys.stderr, mininterval=1.0)
    if workers <= 1:
        for item in items:
            yield function(item)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_one_blas_thread) as pool:
            pending: deque[Future] = deque()
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 4 * workers:
                    yield pending.popleft().result()
                    bar.update()
            while pending:
                yield pending.popleft().result()
                bar.update()
    bar.close()


def _decode_task(task: tuple[str, int]) -> tuple[np.ndarray | None, str, str]:
    path, min_samples = task
    try:
        return to_int16(decode_clip(path, min_samples)), "", ""
    except UnusableAudio as error:
        return None, error.reason, error.detail


@dataclass(frozen=True)
class CachePaths:
    """The two files of a cache."""

    data: Path
    index: Path

    @classmethod
    def of(cls, stem: str | Path) -> CachePaths:
        stem = Path(stem)
        return cls(stem.with_suffix(".bin"), stem.with_suffix(".csv"))


class CacheMismatch(RuntimeError):
    """A cache's data file and index do not belong together (stale or half-written)."""


def _write_cache(
    paths: CachePaths, rows: Iterable[tuple[dict, np.ndarray]], dtype: np.dtype
) -> pd.DataFrame:
    """Append each array to the data file and record its offset, both under partial names.

    The old index goes first, then the data is renamed into place and the index last, so a
    crash can leave data without an index but never an index that does not describe it.
    """
    index_rows, offset = [], 0
    with atomic.atomic_path(paths.index) as index_partial:
        with atomic.atomic_path(paths.data) as data_partial:
            with open(data_partial, "wb") as handle:
                for meta, array in rows:
                    array = np.ascontiguousarray(array, dtype=dtype)
                    handle.write(array.tobytes())
                    index_rows.append({**meta, "offset": offset, "count": len(array)})
                    offset += len(array)
            index = pd.DataFrame(index_rows, columns=[*_META_COLUMNS, "offset", "count"])
            index.to_csv(index_partial, index=False)
            paths.index.unlink(missing_ok=True)
    return index


def _checked_index(paths: CachePaths, dtype: str, row_shape: tuple[int, ...] = ()) -> pd.DataFrame:
    """A cache's index, checked to tile its data file exactly (clip after clip, to the end)."""
    stale = "; the cache is stale or half-written: delete both files and rerun the workflow"
    if not paths.index.is_file():
        raise CacheMismatch(f"{paths.data}: its index {paths.index} is missing{stale}")
    index = pd.read_csv(paths.index)
    counts = index["count"].to_numpy(dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else counts
    row_bytes = np.dtype(dtype).itemsize * math.prod(row_shape)
    expected = int(counts.sum()) * row_bytes
    actual = paths.data.stat().st_size if paths.data.is_file() else None
    if not np.array_equal(index["offset"].to_numpy(dtype=np.int64), starts) or actual != expected:
        found = "is missing" if actual is None else f"holds {actual} bytes"
        raise CacheMismatch(
            f"{paths.data} and {paths.index} do not match: the index covers {expected} bytes "
            f"in consecutive clips, the data file {found}{stale}"
        )
    return index


_META_COLUMNS = ["clip_id", "split"]


def build_audio_cache(
    split_path: str | Path,
    audio_root: str | Path,
    cache_stem: str | Path,
    skipped_path: str | Path,
    min_samples: int,
    workers: int = 1,
) -> pd.DataFrame:
    """Decode every clip of the split to 16 kHz mono int16; list unusable clips in skipped.csv.

    Returns the index (clip_id, split, offset, count = n_samples) of the clips kept.
    """
    split = read_split(split_path)
    audio_root = Path(audio_root)
    tasks = [(str(audio_root / p), min_samples) for p in split["mp3_path"]]
    skipped: list[dict] = []

    def rows() -> Iterator[tuple[dict, np.ndarray]]:
        results = _parallel_map(_decode_task, tasks, workers, "decode audio")
        for (clip_id, mp3_path, split_name), (audio, reason, detail) in zip(
            split[["clip_id", "mp3_path", "split"]].itertuples(index=False), results, strict=True
        ):
            if audio is None:
                skipped.append(
                    {"clip_id": clip_id, "mp3_path": mp3_path, "reason": reason, "detail": detail}
                )
                continue
            yield {"clip_id": clip_id, "split": split_name}, audio

    index = _write_cache(CachePaths.of(cache_stem), rows(), np.dtype("<i2"))
    atomic.write_csv(pd.DataFrame(skipped, columns=SKIPPED_COLUMNS), skipped_path)
    if skipped:
        reasons = pd.Series([s["reason"] for s in skipped]).value_counts().to_dict()
        print(
            f"skipped {len(skipped)} unusable clip(s): {reasons}; see {skipped_path}",
            file=sys.stderr,
        )
    return index


def open_cache(
    stem: str | Path, dtype: str, row_shape: tuple[int, ...] = ()
) -> tuple[np.memmap, pd.DataFrame]:
    """Memory-map a cache read-only; returns (array, index). Raises :class:`CacheMismatch`."""
    paths = CachePaths.of(stem)
    index = _checked_index(paths, dtype, row_shape)
    total = int(index["count"].sum()) if len(index) else 0
    if total == 0:
        return np.zeros((0, *row_shape), dtype=dtype), index  # type: ignore[return-value]
    data = np.memmap(paths.data, dtype=dtype, mode="r", shape=(total, *row_shape))
    return data, index


def _mel_task(task: tuple[str, int, int, int, int, int]) -> np.ndarray:
    data_path, offset, count, length, stride, min_n_fft = task
    audio = np.memmap(data_path, dtype="<i2", mode="r", offset=offset * 2, shape=(count,))
    return log_mel_spectrogram(np.array(audio), length, stride, min_n_fft).astype(np.float16)


def build_mel_cache(
    audio_stem: str | Path,
    mel_stem: str | Path,
    length: int,
    stride: int,
    min_n_fft: int,
    workers: int = 1,
) -> pd.DataFrame:
    """Compressed mel-spectrograms (float16, frames x 128) of every cached clip."""
    audio_paths = CachePaths.of(audio_stem)
    audio_index = _checked_index(audio_paths, "<i2")
    tasks = [
        (str(audio_paths.data), int(o), int(c), length, stride, min_n_fft)
        for o, c in audio_index[["offset", "count"]].itertuples(index=False)
    ]

    def rows() -> Iterator[tuple[dict, np.ndarray]]:
        results = _parallel_map(_mel_task, tasks, workers, f"mel {length}/{stride}")
        yield from zip(audio_index[_META_COLUMNS].to_dict("records"), results, strict=True)

    return _write_cache(CachePaths.of(mel_stem), rows(), np.dtype("<f2"))


MEL_ROW_SHAPE = (N_MELS,)
