"""Training batches: the device-side gather cuts exactly the windows the numpy path cuts, and
each seed's host stream is the stream of a job training that seed alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.training.batches import WindowSource
from pipeline.training.sampling import DeviceSampler, DeviceWindows, HostSampler
from tests.training.engine_data import VARIANTS, source_of

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("front_end", VARIANTS)
def test_the_device_gather_returns_exactly_the_windows_of_the_numpy_gather(front_end, device):
    source = source_of(VARIANTS[front_end])
    train_rows = source.rows_of("train")
    resident = DeviceWindows(source, train_rows, torch.device(device))
    rng = np.random.default_rng(7)
    picks = rng.integers(0, len(train_rows), (3, 10))  # positions among the resident clips
    room = source.index["count"].to_numpy()[train_rows[picks]] - source.window + 1
    starts = (rng.random(picks.shape) * room).astype(np.int64)
    starts[0, 0], starts[0, 1] = 0, room[0, 1] - 1  # a clip's first and last window

    on_device = resident.gather(
        torch.from_numpy(picks).to(device), torch.from_numpy(starts).to(device)
    )
    assert on_device.device.type == device
    expected = source.gather(train_rows[picks].reshape(-1), starts.reshape(-1))
    assert on_device.dtype == torch.from_numpy(expected).dtype
    assert np.array_equal(on_device.cpu().numpy().reshape(expected.shape), expected)
    assert np.array_equal(resident.labels.cpu().numpy(), source.labels[train_rows])


@pytest.mark.parametrize("device", DEVICES)
def test_the_device_sampler_draws_whole_windows_of_training_clips_with_their_labels(device):
    """Each sample of a clip holds its clip's row, so a window shows where it was cut."""
    source = source_of(VARIANTS["raw"])
    rows = np.repeat(np.arange(len(source.index)), source.index["count"].to_numpy())
    source.array = rows.astype(np.int16)
    train_rows = source.rows_of("train")
    sampler = DeviceSampler(DeviceWindows(source, train_rows, torch.device(device)), 3, 50)
    inputs, targets = sampler(torch.device(device))
    inputs, targets = inputs.cpu().numpy(), targets.cpu().numpy()

    assert inputs.shape == (3, 50, source.window) and targets.shape == (3, 50, 5)
    clip_rows = inputs[..., 0]
    assert (inputs == clip_rows[..., None]).all(), "a window spans two clips"
    assert set(np.unique(clip_rows)) <= set(train_rows.tolist())
    assert np.array_equal(targets, source.labels[clip_rows])


def test_each_seed_of_the_host_sampler_draws_the_stream_of_that_seed_alone():
    source = source_of(VARIANTS["spectrogram"])
    train_rows = source.rows_of("train")
    sampler = HostSampler(source, train_rows, [1, 2], batch_size=4)
    alone = np.random.default_rng(2)
    for _ in range(3):
        inputs, targets = sampler(torch.device("cpu"))
        expected_inputs, expected_targets = source.random_batch(alone, train_rows, 4)
        assert np.array_equal(inputs[1].numpy(), expected_inputs)
        assert np.array_equal(targets[1].numpy(), expected_targets)
    assert not np.array_equal(inputs[0].numpy(), inputs[1].numpy())


def _memory_mapped(source, folder):
    """The source with its cache array memory-mapped from a file, as open_cache gives it."""
    path = folder / "cache.bin"
    np.ascontiguousarray(source.array).tofile(path)
    array = np.memmap(path, dtype=source.array.dtype, mode="r", shape=source.array.shape)
    return replace(source, array=array)


@pytest.mark.parametrize("mapped", [False, True], ids=["in_memory", "memory_mapped"])
@pytest.mark.parametrize("front_end", VARIANTS)
@pytest.mark.parametrize("rows_per_buffer", [1, 7, 100_000])
def test_the_copy_through_a_bounded_buffer_is_every_row_of_the_clips_in_order(
    tmp_path, front_end, mapped, rows_per_buffer
):
    """A buffer smaller than a clip (pieces of clips), holding several clips, or all of them."""
    source = source_of(VARIANTS[front_end])
    if mapped:
        source = _memory_mapped(source, tmp_path)
    rows = source.rows_of("train")[::-1]  # not in cache order
    row_bytes = source.array[:1].nbytes
    resident = DeviceWindows(source, rows, torch.device("cpu"), rows_per_buffer * row_bytes)
    counts, offsets = source.index["count"].to_numpy(), source.index["offset"].to_numpy()
    expected = np.concatenate([source.array[offsets[r] : offsets[r] + counts[r]] for r in rows])
    assert np.array_equal(resident.data.numpy(), expected)


def _resident_file_pages_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_copying_a_memory_mapped_cache_does_not_map_it_into_the_process(tmp_path):
    """The job's resident memory stays the buffer's, not the cache's: a memory map's touched
    pages count in it (RssFile) as long as the map lives, which is the whole job."""
    clips, clip_samples = 40, 1_600_000  # 128 MB of int16 audio
    index = pd.DataFrame(
        {
            "clip_id": np.arange(clips),
            "split": "train",
            "offset": np.arange(clips) * clip_samples,
            "count": clip_samples,
        }
    )
    audio = np.arange(clips * clip_samples, dtype=np.int64).astype(np.int16)
    labels = np.zeros((clips, 1), dtype=np.float32)
    source = _memory_mapped(
        WindowSource(audio, index, labels, ["t"], 4096, "start_sample"), tmp_path
    )
    del audio
    before = _resident_file_pages_mb()
    resident = DeviceWindows(source, source.rows_of("train"), torch.device("cpu"), 2**20)
    grown = _resident_file_pages_mb() - before
    assert resident.data[-1].item() == source.array[-1]  # read after the measurement
    assert grown < 16, f"{grown:.0f} MB of the 128 MB cache mapped into the process"
