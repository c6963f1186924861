"""Which workflow jobs ask for a GPU, and how many may hold one at a time on this machine.

Training runs on ``training.device`` and evaluation runs where training ran (the same setting),
so both ask for the GPU of ``resources.train`` whenever that device may be CUDA: under SLURM a
job that asked for no GPU gets none and falls back to the CPU without a word, and locally a
job that claims no GPU is not counted against the GPU budget.

The budget: a local ``snakemake --cores 8`` starts as many jobs as cores allow, and every
CUDA job lands on the same device (``cuda``, the first visible GPU). A graphed training job
keeps its training clips on that GPU (~18 GB of raw audio on MagnaTagATune), so eight at once
run out of memory. Unless the command line sets ``--resources gpu=N`` itself, a local run on a
machine where CUDA is visible therefore gets ``gpu=1``: one GPU job at a time, with the CPU
steps running beside it. On a cluster (``--jobs``, an executor) each job gets its own GPU from
the scheduler and no budget is set; on a machine without CUDA there is nothing to share.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

GPU_RULES = ("train", "evaluate")
"""The rules whose jobs run networks on ``training.device``."""


def may_use_cuda(params: Mapping[str, Any]) -> bool:
    """Whether training (and evaluation) may run on CUDA: any ``training.device`` but ``cpu``
    (``auto`` takes CUDA when present)."""
    return params["training"]["device"] != "cpu"


def gpu_request(params: Mapping[str, Any]) -> dict[str, Any]:
    """The GPU resources a job of :data:`GPU_RULES` asks for: ``resources.train``'s ``gpu``
    (and ``gpu_model`` when set) when the networks may run on CUDA; nothing when they run on
    the CPU or ``gpu`` is 0 (a cluster without GPUs then never sees ``--gpus``)."""
    train = params["resources"]["train"]
    if not may_use_cuda(params) or not train.get("gpu"):
        return {}
    request = {"gpu": train["gpu"]}
    if train.get("gpu_model") is not None:
        request["gpu_model"] = train["gpu_model"]
    return request


def cuda_visible() -> bool:
    """Whether torch sees a CUDA device here. ``CUDA_VISIBLE_DEVICES=""`` answers without
    importing torch, which takes seconds at every start of Snakemake."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    import torch

    return torch.cuda.is_available()


def local_gpu_budget(
    params: Mapping[str, Any],
    *,
    given: bool,
    local: bool,
    cuda: Callable[[], bool] = cuda_visible,
) -> int | None:
    """The ``gpu`` limit a run gets by default: room for one GPU job (the GPUs one job asks
    for, :func:`gpu_request`; every CUDA job uses the first visible GPU, so more would only
    crowd it) when the run starts its jobs on this machine (``local``), its command line named
    no ``gpu`` limit (``given``), its GPU jobs ask for a GPU and ``cuda`` says this machine has
    one; else ``None``, no limit. ``cuda`` is asked last: it may import torch."""
    request = gpu_request(params)
    if given or not local or not request:
        return None
    return request["gpu"] if cuda() else None
