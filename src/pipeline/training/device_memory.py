"""What a training job keeps on a GPU, and whether it fits there.

The graphed engine keeps the job's training clips on the device (MagnaTagATune's raw audio:
8.7e9 int16 samples, ~17.4 GB), and validation on CUDA keeps the validation clips there
(:class:`pipeline.training.predict.ResidentWindows`), so that neither crosses the bus again.
That fits an 80-141 GB GPU, not a 16-24 GB one. :func:`plan_device_memory` decides from the
device's free memory before anything is copied: ``auto`` falls back from graphed to packed
(batches cut on the host, as on the CPU) with a one-line note, an explicit ``graphed`` that
cannot fit is refused naming the numbers, and validation that cannot fit cuts its windows
on the host as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.training.batches import WindowSource

HEADROOM_BYTES = 2 * 2**30
"""Free device memory kept beside the resident clips: the seeds' networks and momentum, a
step's activations, cuDNN's workspaces and the CUDA graph's pool. A margin chosen, not
measured: at minibatch 10 the networks and activations of the grid take megabytes."""


@dataclass(frozen=True)
class DevicePlan:
    """How a job uses its device: the engine, whether validation's clips stay on the device,
    and the note to print (``None``: nothing changed from what was asked)."""

    engine: str
    validation_resident: bool
    note: str | None = None


def resident_bytes(source: WindowSource, clip_rows: np.ndarray) -> int:
    """Device memory that copying these clips (and their labels) takes."""
    rows = int(source.index["count"].to_numpy()[clip_rows].sum())
    row_bytes = source.array.itemsize * int(np.prod(source.array.shape[1:], dtype=np.int64))
    return rows * row_bytes + len(clip_rows) * source.labels[:1].nbytes


def free_device_memory(device: torch.device) -> int:
    """Bytes free on a CUDA device now (what the driver reports, other processes' use off)."""
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def plan_device_memory(
    engine: str,
    requested: str,
    device: torch.device,
    train_bytes: int,
    valid_bytes: int,
    free_bytes: int,
) -> DevicePlan:
    """The engine and validation's residency that fit ``free_bytes`` with
    :data:`HEADROOM_BYTES` to spare. ``engine`` is ``requested`` resolved (``auto`` is
    graphed on CUDA); nothing is resident off CUDA."""
    if device.type != "cuda":
        return DevicePlan(engine, False)
    room = free_bytes - HEADROOM_BYTES
    note = None
    if engine == "graphed" and train_bytes > room:
        needs = (
            f"the training clips take {_gb(train_bytes)} on {device}, which has "
            f"{_gb(free_bytes)} free, {_gb(HEADROOM_BYTES)} of it kept spare"
        )
        if requested == "graphed":
            raise ValueError(
                f"training.engine 'graphed': {needs}; use packed (or auto, which falls back "
                "to it), or a GPU with more free memory"
            )
        engine, note = "packed", f"training.engine auto: packed, not graphed: {needs}"
    left = room - (train_bytes if engine == "graphed" else 0)
    resident = valid_bytes <= left
    if not resident:
        cut = "validation windows cut on the host"
        note = f"{note}; {cut}" if note else f"{cut}: {_gb(valid_bytes)} do not fit {device}"
    return DevicePlan(engine, resident, note)
