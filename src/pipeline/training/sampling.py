"""Where training batches come from: one random stream per seed, drawn on the host or the device.

* :class:`HostSampler` (the CPU): seed k draws its windows with its own numpy generator and
  cuts them from the memory-mapped cache, exactly as a job training seed k alone does, so
  seed k's model does not depend on which seeds share the job.
* :class:`DeviceSampler` (CUDA): the training clips are copied to the device once
  (:class:`DeviceWindows`, through a bounded host buffer) and every step draws and gathers
  its windows there with torch's generator, so no window crosses the bus and the draw can
  sit inside a CUDA graph. The batches are the same in distribution as the host's, not the
  same windows.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.determinism import empty_to_overwrite
from pipeline.training.batches import WindowSource
from pipeline.training.predict import split_windows


class HostSampler:
    """Per-seed numpy generators over the cache on the host: (seeds, batch, ...) tensors."""

    def __init__(
        self, source: WindowSource, train_rows: np.ndarray, seeds: list[int], batch_size: int
    ) -> None:
        self.source, self.train_rows, self.batch_size = source, train_rows, batch_size
        self.generators = [np.random.default_rng(seed) for seed in seeds]

    def __call__(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [
            self.source.random_batch(rng, self.train_rows, self.batch_size)
            for rng in self.generators
        ]
        inputs = np.stack([inputs for inputs, _ in batches])
        targets = np.stack([targets for _, targets in batches])
        return torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)

    def state(self) -> list[dict[str, Any]]:
        """The generators' states, for a checkpoint."""
        return [rng.bit_generator.state for rng in self.generators]

    def restore(self, states: list[dict[str, Any]]) -> None:
        for rng, state in zip(self.generators, states, strict=True):
            rng.bit_generator.state = state


COPY_BUFFER_BYTES = 64 * 2**20
"""Host memory a copy of clips to the device passes through, whatever their size."""


def _pieces(offsets: np.ndarray, counts: np.ndarray, most: int) -> Iterator[tuple[int, int]]:
    """(first row, rows) of each clip's rows, in order, split so no piece exceeds ``most``."""
    for offset, count in zip(offsets.tolist(), counts.tolist(), strict=True):
        for first in range(0, count, most):
            yield offset + first, min(most, count - first)


@contextmanager
def _row_reader(array: np.ndarray) -> Iterator[Callable[[int, np.ndarray], None]]:
    """``read(first, out)``: rows ``first`` onwards of ``array`` into ``out``.

    A cache memory-mapped from a file is read with the file's own reads: touched pages of a
    mapping count in the process's resident memory until it is dropped, so copying MTAT's
    training audio (~17 GB) through the job's long-lived memory map would show a 17 GB
    process to a scheduler that asked for 3 GB. Read into a buffer, only the buffer counts.
    """
    if not (isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap)):
        yield lambda first, out: np.copyto(out, array[first : first + len(out)])
        return
    row_bytes = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    with open(array.filename, "rb", buffering=0) as file:

        def read(first: int, out: np.ndarray) -> None:
            view = memoryview(out).cast("B")
            file.seek(array.offset + first * row_bytes)
            done = 0
            while done < len(view):
                got = file.readinto(view[done:])
                if not got:
                    raise OSError(f"{array.filename}: ended before row {first + len(out)}")
                done += got

        yield read


class DeviceWindows:
    """Some clips of a cache copied to one device, with their labels, to cut windows there.

    Only the clips asked for are copied (training clips: about 17 GB of int16 audio for
    MagnaTagATune, which fits one H100), through one host buffer of at most
    ``buffer_bytes`` (pinned for a GPU), so the host never holds more of them at once.
    """

    def __init__(
        self,
        source: WindowSource,
        clip_rows: np.ndarray,
        device: torch.device,
        buffer_bytes: int = COPY_BUFFER_BYTES,
    ) -> None:
        counts = source.index["count"].to_numpy()[clip_rows]
        offsets = source.index["offset"].to_numpy()[clip_rows]
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        row_shape = source.array.shape[1:]
        dtype = torch.from_numpy(np.empty(0, dtype=source.array.dtype)).dtype
        self.data = empty_to_overwrite((int(counts.sum()), *row_shape), dtype=dtype, device=device)
        self._copy(source.array, offsets, counts, buffer_bytes)
        self.offsets = torch.as_tensor(starts, dtype=torch.int64, device=device)
        self.counts = torch.as_tensor(counts, dtype=torch.int64, device=device)
        self.labels = torch.from_numpy(source.labels[clip_rows]).to(device)
        self.window = source.window
        self.steps = torch.arange(source.window, device=device)

    def _copy(
        self, array: np.ndarray, offsets: np.ndarray, counts: np.ndarray, buffer_bytes: int
    ) -> None:
        """Every row of the clips into :attr:`data`, in order, a bufferful at a time."""
        row_bytes = self.data.element_size() * int(np.prod(self.data.shape[1:], dtype=np.int64))
        most = max(1, buffer_bytes // row_bytes)
        cuda = self.data.device.type == "cuda"
        shape = (max(1, min(most, len(self.data))), *self.data.shape[1:])
        buffer = empty_to_overwrite(shape, dtype=self.data.dtype, pin_memory=cuda)
        host, filled, written = buffer.numpy(), 0, 0
        with _row_reader(array) as read:
            for first, rows in _pieces(offsets, counts, len(buffer)):
                if filled + rows > len(buffer):
                    self.data[written : written + filled].copy_(buffer[:filled])
                    written, filled = written + filled, 0
                read(first, host[filled : filled + rows])
                filled += rows
            self.data[written : written + filled].copy_(buffer[:filled])

    def __len__(self) -> int:
        return len(self.offsets)

    def gather(self, clips: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """Windows at ``starts`` of the resident clips ``clips`` (positions among the copied
        clips), any leading shape: the device twin of :meth:`WindowSource.gather`."""
        positions = (self.offsets[clips] + starts).unsqueeze(-1) + self.steps
        return self.data[positions]


class DeviceSampler:
    """Random windows of random resident clips, drawn and cut on the device."""

    def __init__(self, windows: DeviceWindows, seeds: int, batch_size: int) -> None:
        self.windows, self.shape = windows, (seeds, batch_size)

    def __call__(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        windows = self.windows
        clips = torch.randint(0, len(windows), self.shape, device=device)
        room = windows.counts[clips] - windows.window + 1
        starts = (torch.rand(self.shape, device=device) * room).long()
        return windows.gather(clips, starts), windows.labels[clips]

    def state(self) -> None:
        """Nothing of its own: it draws from torch's generator, which a checkpoint saves."""
        return None

    def restore(self, state: None) -> None:
        return None


class ResidentWindows:
    """One split's windows, cut on the device from its clips kept there.

    Validation on CUDA otherwise cuts every validation window on the host and copies it
    across the bus at every validation (MTAT's ~1,600 validation clips of 9-10 windows of
    ~48,000 int16 samples: about 1.4 GB, a hundred times in a paper job, which validates every
    50,000 of 5 million updates); the clips are copied once instead (:class:`DeviceWindows`)
    and a batch is a gather there, the same windows as the host cuts
    (:func:`pipeline.training.predict.clip_predictions_of_models`).
    """

    def __init__(
        self, source: WindowSource, windows: pd.DataFrame, split: str, device: torch.device
    ) -> None:
        selected, rows = split_windows(source, windows, split)
        clip_rows, positions = np.unique(rows, return_inverse=True)
        self.clips = DeviceWindows(source, clip_rows, device)
        self.positions = torch.as_tensor(positions, dtype=torch.int64, device=device)
        starts = np.array(selected[source.start_column], dtype=np.int64)  # a writable copy
        self.starts = torch.as_tensor(starts, device=device)

    def __call__(self, windows: slice) -> torch.Tensor:
        """The windows at these positions of the split's table."""
        return self.clips.gather(self.positions[windows], self.starts[windows])
