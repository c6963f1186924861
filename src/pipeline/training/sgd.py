"""SGD with momentum, as ``torch.optim.SGD(params, lr, momentum, foreach=True)`` computes it.

Why not torch.optim itself: constructing any torch.optim optimizer imports torch's compiler
(``torch._dynamo``, to mark the optimizer's methods as not compilable), which costs about 3 s
at the start of every training job, more than a tenth of a short one. This is the same
arithmetic in the same operations (tests/training/test_sgd.py checks it bit for bit against
torch.optim.SGD): the momentum buffer starts as a copy of the first gradient, then each step
``buffer = momentum * buffer + gradient`` and ``parameter -= learning_rate * buffer``. No
dampening, weight decay or Nesterov momentum: the paper uses none. Every operation stays on
the parameters' device without a host synchronisation, so a CUDA graph can capture a step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class MomentumSGD:
    """Plain SGD with momentum over a list of parameters."""

    def __init__(self, parameters: Iterable[torch.Tensor], lr: float, momentum: float) -> None:
        self.parameters = list(parameters)
        self.lr, self.momentum = lr, momentum
        self.buffers: list[torch.Tensor] | None = None  # made at the first step, as torch's

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (the next backward pass writes fresh ones)."""
        for parameter in self.parameters:
            if set_to_none:
                parameter.grad = None
            elif parameter.grad is not None:
                parameter.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter from its gradient."""
        grads = [parameter.grad for parameter in self.parameters]
        if any(grad is None for grad in grads):
            raise RuntimeError("every parameter needs a gradient before an SGD step")
        if self.buffers is None:
            self.buffers = [grad.detach().clone() for grad in grads]
        else:
            torch._foreach_mul_(self.buffers, self.momentum)
            torch._foreach_add_(self.buffers, grads)
        torch._foreach_add_(self.parameters, self.buffers, alpha=-self.lr)

    def state_dict(self) -> dict[str, Any]:
        """The momentum buffers (what a checkpoint must keep to resume bit for bit)."""
        return {"lr": self.lr, "momentum": self.momentum, "buffers": self.buffers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore buffers saved by :meth:`state_dict`, onto the parameters' devices."""
        buffers = state["buffers"]
        self.buffers = (
            None
            if buffers is None
            else [
                saved.to(parameter.device).clone()
                for saved, parameter in zip(buffers, self.parameters, strict=True)
            ]
        )
