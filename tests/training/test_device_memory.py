"""What a job keeps on a GPU, decided by the device's free memory (stood in: no GPU needed).

MTAT-sized numbers: ~17.4 GB of resident training audio, ~1.4 GB of validation clips, on an
H200 (141 GB), a 24 GB and a 16 GB card."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.training.device_memory import (
    HEADROOM_BYTES,
    DevicePlan,
    plan_device_memory,
    resident_bytes,
)
from tests.training.engine_data import N_TAGS, VARIANTS, source_of

GB = 10**9
TRAIN, VALID = int(17.4 * GB), int(1.4 * GB)
CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def _plan(engine: str, requested: str, free: float, device=CUDA) -> DevicePlan:
    return plan_device_memory(engine, requested, device, TRAIN, VALID, int(free * GB))


def test_everything_stays_on_a_gpu_it_fits():
    assert _plan("graphed", "auto", 141) == DevicePlan("graphed", True, None)
    assert _plan("graphed", "auto", 24) == DevicePlan("graphed", True, None)


def test_auto_falls_back_to_packed_on_a_gpu_too_small_for_the_training_clips():
    plan = _plan("graphed", "auto", 16)
    assert (plan.engine, plan.validation_resident) == ("packed", True)
    assert plan.note == (
        "training.engine auto: packed, not graphed: the training clips take 17.4 GB on cuda, "
        "which has 16.0 GB free, 2.1 GB of it kept spare"
    )
    assert "\n" not in plan.note


def test_the_headroom_is_kept():
    """Fits only with the margin to spare: a byte less free and it does not."""
    just = (TRAIN + VALID + HEADROOM_BYTES) / GB
    assert _plan("graphed", "auto", just).engine == "graphed"
    assert _plan("graphed", "auto", just - 1e-9) == DevicePlan(
        "graphed", False, "validation windows cut on the host: 1.4 GB do not fit cuda"
    )
    assert _plan("graphed", "auto", (TRAIN + HEADROOM_BYTES) / GB - 1e-9).engine == "packed"


def test_an_explicit_graphed_engine_that_cannot_fit_is_refused_naming_the_numbers():
    with pytest.raises(ValueError, match=r"training.engine 'graphed': .* 17.4 GB .* use packed"):
        _plan("graphed", "graphed", 16)


def test_validation_too_large_for_what_is_left_is_cut_on_the_host():
    plan = _plan("graphed", "auto", 2.5)
    assert plan == DevicePlan(
        "packed",
        False,
        "training.engine auto: packed, not graphed: the training clips take 17.4 GB on cuda, "
        "which has 2.5 GB free, 2.1 GB of it kept spare; validation windows cut on the host",
    )
    assert _plan("packed", "packed", 2.5) == DevicePlan(
        "packed", False, "validation windows cut on the host: 1.4 GB do not fit cuda"
    )


def test_nothing_is_resident_off_cuda_whatever_the_numbers():
    """The CPU's validation is the host's clip-aligned path, whose bits are pinned."""
    for engine in ("looped", "packed"):
        assert _plan(engine, engine, 1000, device=CPU) == DevicePlan(engine, False, None)


@pytest.mark.parametrize("front_end", VARIANTS)
def test_the_resident_bytes_are_the_clips_rows_and_labels(front_end):
    source = source_of(VARIANTS[front_end])
    rows = source.rows_of("train")
    per_row = {"raw": 2, "spectrogram": 2 * 128}[front_end]  # int16 samples, fp16 mel frames
    expected = int(source.index["count"].to_numpy()[rows].sum()) * per_row
    assert resident_bytes(source, rows) == expected + len(rows) * N_TAGS * 4
    assert resident_bytes(source, np.array([], dtype=np.int64)) == 0
