"""Where training batches come from: one random stream per seed, drawn on the host or the device.

* :class:`HostSampler` (the CPU): seed k draws its windows with its own numpy generator and
  cuts them from the memory-mapped cache, exactly as a job training seed k alone does, so
  seed k's model does not depend on which seeds share the job.
* :class:`DeviceSampler` (CUDA): the training clips are copied to the device once
  (:class:`DeviceWindows`) and every step draws and gathers its windows there with torch's
  generator, so no window crosses the bus and the draw can sit inside a CUDA graph. The
  batches are the same in distribution as the host's, not the same windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipeline.training.batches import WindowSource


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


class DeviceWindows:
    """Some clips of a cache copied to one device, with their labels, to cut windows there.

    Only the clips asked for are copied (training clips: about 19 GB of int16 audio for
    MagnaTagATune, which fits one H100), one clip at a time so the host never holds a second
    copy of the cache.
    """

    def __init__(self, source: WindowSource, clip_rows: np.ndarray, device: torch.device) -> None:
        counts = source.index["count"].to_numpy()[clip_rows]
        offsets = source.index["offset"].to_numpy()[clip_rows]
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        row_shape = source.array.shape[1:]
        self.data = torch.empty(
            (int(counts.sum()), *row_shape),
            dtype=torch.from_numpy(source.array[:0]).dtype,
            device=device,
        )
        for start, offset, count in zip(starts, offsets, counts, strict=True):
            clip = np.ascontiguousarray(source.array[offset : offset + count])
            self.data[start : start + count] = torch.from_numpy(clip).to(device)
        self.offsets = torch.as_tensor(starts, dtype=torch.int64, device=device)
        self.counts = torch.as_tensor(counts, dtype=torch.int64, device=device)
        self.labels = torch.from_numpy(source.labels[clip_rows]).to(device)
        self.window = source.window
        self.steps = torch.arange(source.window, device=device)

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
