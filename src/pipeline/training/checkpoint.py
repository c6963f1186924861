"""Save and resume a training run, so an interrupted run continues where it stopped.

A checkpoint holds the network, the optimiser, both random generators and the progress so
far; it is only resumed when its settings hash matches the run's (every setting that shapes
training), so a changed setting starts over instead of mixing two runs.
"""

from __future__ import annotations

import io
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


def save_checkpoint(
    path: Path,
    settings: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    state: TrainingState,
) -> None:
    """Everything :func:`resume_from_checkpoint` needs to continue bit for bit."""
    atomic_torch_save(
        {
            "settings": settings,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "best_auc": state.best_auc,
            "best_state": state.best_state,
            "update": state.update,
            "history": state.history,
        },
        path,
    )


def resume_from_checkpoint(
    path: Path,
    settings: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    device: torch.device,
) -> TrainingState | None:
    """Restore model, optimiser and generators from a matching checkpoint and return its
    progress; ``None`` (nothing restored) when there is none or its settings differ."""
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    if checkpoint.get("settings") != settings:
        return None
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    rng.bit_generator.state = checkpoint["numpy_rng"]
    torch.set_rng_state(checkpoint["torch_rng"])
    return TrainingState(
        checkpoint["best_auc"],
        checkpoint["best_state"],
        checkpoint["update"],
        checkpoint["history"],
    )
