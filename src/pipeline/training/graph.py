"""The whole training step in one CUDA graph: draw, gather, forward, backward and SGD.

At minibatch 10 a step is a few hundred small kernels, and launching them costs more than
running them; replaying a captured graph launches them all at once. How much that gains on a
given GPU is what ``benchmarks/train_throughput.py --device cuda`` measures (no GPU has run it
for this repository yet).

The recipe is PyTorch's whole-network capture: a few eager steps on a side stream first (SGD
creates its momentum buffers at its first step, and capture must not allocate them), then one
step captured with the gradients set to None so backward writes them into the graph's own
memory, then replays. The learning rate is fixed, so it can be baked in. Batches are drawn
inside the graph from torch's CUDA generator, whose offset each replay advances, so its state
saved in a checkpoint resumes the stream. One graph per job: separately captured graphs
replayed concurrently were seen to corrupt ``torch.randint`` (the notes' pitfall).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

WARMUP_STEPS = 3
"""Eager steps before capture; they are real updates, counted like any other."""


class GraphedStep:
    """Call it like the eager step it wraps: the first calls run eagerly on a side stream,
    then the step is captured once and every later call replays it."""

    def __init__(self, step: Callable[[], torch.Tensor], name: str) -> None:
        self.step, self.name = step, name
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.output: torch.Tensor | None = None
        self.side = torch.cuda.Stream()

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        if self.calls <= WARMUP_STEPS:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                output = self.step()
            torch.cuda.current_stream().wait_stream(self.side)
            return output
        if self.graph is None:
            self._capture()
        assert self.graph is not None and self.output is not None
        self.graph.replay()
        return self.output

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        step_error: Exception | None = None
        try:
            with torch.cuda.graph(graph):
                try:
                    self.output = self.step()
                except Exception as error:  # the real cause; capture_end's error would hide it
                    step_error = error
                    raise
        except RuntimeError as error:
            cause = step_error or error
            raise RuntimeError(
                f"{self.name}: capturing the training step in a CUDA graph failed "
                f"({type(cause).__name__}: {cause}); "
                "set training.engine: packed to train the same way without a graph"
            ) from cause
        self.graph = graph
        print(f"{self.name}: training step captured in a CUDA graph", file=sys.stderr)
