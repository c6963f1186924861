"""Save and resume a training run, so an interrupted run continues where it stopped.

A checkpoint holds the networks and optimisers of every seed of a job (its engine), the random
generators and each seed's progress so far, under the resume key of the inputs it was made
from (see ``training.loop``). It is resumed only when that key matches; a checkpoint made from
other inputs is deleted and the job starts over, so one model never mixes updates of two runs.
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


def _cuda_rng_states() -> list[torch.Tensor] | None:
    """The CUDA generators' states when this process uses CUDA (asking would start it)."""
    return torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None


def save_checkpoint(
    path: Path, key: str, engine: Any, sampler: Any, states: list[TrainingState]
) -> None:
    """Everything :func:`resume_from_checkpoint` needs to continue bit for bit: the engine's
    networks and optimisers, the samplers' and torch's generators, and each seed's progress."""
    atomic_torch_save(
        {
            "key": key,
            "engine": engine.state(),
            "sampler": sampler.state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": _cuda_rng_states(),
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
    path: Path, key: str, engine: Any, sampler: Any, name: str
) -> list[TrainingState] | None:
    """Restore the engine and generators from a checkpoint of the same ``key`` and return each
    seed's progress; ``None`` (nothing restored) when there is none. A checkpoint of another
    key is deleted. Either outcome is reported on stderr, prefixed with ``name``.

    Everything is loaded onto the CPU: the generator states must be CPU tensors, the best
    parameters stay where an uninterrupted run keeps them (so model.pt is the same), and
    ``load_state_dict``/``copy_`` move the networks' and optimisers' tensors to their device.
    """
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("key") != key:
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
    if checkpoint["cuda_rng"] is not None:
        torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])
    states = [
        TrainingState(seed["best_auc"], seed["best_state"], seed["update"], seed["history"])
        for seed in checkpoint["seeds"]
    ]
    print(f"{name}: resuming from update {states[0].update}", file=sys.stderr)
    return states
