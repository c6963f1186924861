"""A failed CUDA-graph capture names its real cause (runs on the CPU: the CUDA calls of the
capture are stood in for, as a GPU would fail them)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from pipeline.training import graph as graph_module


@contextmanager
def _capture_that_fails_at_its_end(graph):  # noqa: ANN001, ANN202
    """What torch.cuda.graph does when the captured code raised: capture_end raises its own
    error, and the step's becomes only its __context__."""
    try:
        yield
    finally:
        raise RuntimeError("CUDA error: operation failed due to a previous error during capture")


def test_a_failed_capture_reports_the_steps_own_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "Stream", lambda: None)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: object())
    monkeypatch.setattr(torch.cuda, "graph", _capture_that_fails_at_its_end)

    def step() -> torch.Tensor:
        raise ValueError("an op that synchronises with the host")

    graphed = graph_module.GraphedStep(step, "raw_1024_1024")
    with pytest.raises(RuntimeError) as raised:
        graphed._capture()
    message = str(raised.value)
    assert "ValueError: an op that synchronises with the host" in message
    assert "training.engine: packed" in message
    assert isinstance(raised.value.__cause__, ValueError)
