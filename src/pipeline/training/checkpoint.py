"""Save and resume a training run, so an interrupted run continues where it stopped.

A checkpoint holds the networks and optimisers of every seed of a job (its engine), the random
generators and each seed's progress so far, under the resume key of the inputs it was made
from (see ``training.loop``). It is resumed only when that key matches; a checkpoint made from
other inputs is deleted and the job starts over, so one model never mixes updates of two runs.

Of the CUDA generators only the training device's is kept: it is the one training draws from
(the graphed engine's batches), and the others may not exist when the job resumes on a node
that shows fewer GPUs.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import atomic


@dataclass
class TrainingState:
    """What a run accumulates besides the network: the best parameters and the history."""

    best_auc: float = -np.inf
    best_state: dict[str, torch.Tensor] | None = None
    update: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def elapsed_s(self) -> float:
        """Training time recorded so far (0 before the first validation)."""
        return self.history[-1]["elapsed_s"] if self.history else 0.0


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file behind."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic.write_bytes(path, buffer.getvalue())


FORMAT = 2
"""The checkpoint layout: 2 keeps the training device's CUDA generator alone (``cuda_rng``), 1
(unnumbered) kept a list of every visible GPU's; a checkpoint of another layout is discarded."""


def _cuda_rng_state(device: torch.device) -> torch.Tensor | None:
    """The state of the CUDA generator training draws from: the training device's; ``None``
    on the CPU, where no CUDA generator is used (and asking would start CUDA)."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _restore_cuda_rng(state: torch.Tensor | None, device: torch.device) -> None:
    """Put the training device's generator back; a CPU run has none to restore."""
    if state is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state, device)


def save_checkpoint(
    path: Path,
    key: str,
    engine: Any,
    sampler: Any,
    states: list[TrainingState],
    *,
    device: torch.device,
) -> None:
    """Everything :func:`resume_from_checkpoint` needs to continue bit for bit: the engine's
    networks and optimisers, the samplers' and torch's generators (the CPU's and the training
    ``device``'s), and each seed's progress."""
    atomic_torch_save(
        {
            "format": FORMAT,
            "key": key,
            "engine": engine.state(),
            "sampler": sampler.state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": _cuda_rng_state(device),
            "seeds": [
                {
                    "best_auc": state.best_auc,
                    "best_state": state.best_state,
                    "update": state.update,
                    "history": state.history,
                }
                for state in states
            ],
        },
        path,
    )


def resume_from_checkpoint(
    path: Path, key: str, engine: Any, sampler: Any, name: str, *, device: torch.device
) -> list[TrainingState] | None:
    """Restore the engine and generators (the CPU's and the training ``device``'s) from a
    checkpoint of the same ``key`` and return each seed's progress; ``None`` (nothing restored)
    when there is none. A checkpoint of another key or layout (:data:`FORMAT`) is deleted.
    Either outcome is reported on stderr, prefixed with ``name``.

    Everything is loaded onto the CPU: the generator states must be CPU tensors, the best
    parameters stay where an uninterrupted run keeps them (so model.pt is the same), and
    ``load_state_dict``/``copy_`` move the networks' and optimisers' tensors to their device.
    """
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("key") != key or checkpoint.get("format") != FORMAT:
        path.unlink()
        print(
            f"{name}: discarding {path.name} made from other inputs "
            "(labels, data, settings or training code); training from the start",
            file=sys.stderr,
        )
        return None
    engine.restore(checkpoint["engine"])
    sampler.restore(checkpoint["sampler"])
    torch.set_rng_state(checkpoint["torch_rng"])
    _restore_cuda_rng(checkpoint["cuda_rng"], device)
    states = [
        TrainingState(seed["best_auc"], seed["best_state"], seed["update"], seed["history"])
        for seed in checkpoint["seeds"]
    ]
    print(f"{name}: resuming from update {states[0].update}", file=sys.stderr)
    return states
