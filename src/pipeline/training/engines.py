"""The networks of one variant's seeds, trained together in one job.

Two engines with one interface; ``training.engine`` in params.yaml picks one:

* :class:`LoopedSeeds`: a network and an optimiser per seed, stepped one after the other.
  Seed k's model is bit for bit what a job training seed k alone gives, whatever seeds share
  the job. The CPU default: packing gains nothing on a CPU
  (``benchmarks/train_throughput.py`` measures it).
* :class:`PackedSeeds`: the seeds' parameters stacked along a leading axis and one step for
  all of them through ``torch.func.vmap`` (convolutions become grouped convolutions, dense
  layers batched matrix products): one kernel launch per layer for every seed, which is what
  a GPU needs at minibatch 10, where launch latency, not arithmetic, bounds a step. Equal to
  the looped step within float rounding.

The per-seed losses are summed, never averaged: the gradient of seed k's parameters is then
exactly the gradient of seed k's own loss.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from pipeline.training.sgd import MomentumSGD

ENGINES = ("auto", "looped", "packed", "graphed")
"""``training.engine``: auto (looped on a CPU, graphed on CUDA; packed there where the
training clips do not fit the device, :mod:`pipeline.training.device_memory`), looped, packed,
or graphed (packed, data resident on the device and the whole step in one CUDA graph; CUDA
only)."""

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def seed_networks(build: Callable[[], nn.Module], seeds: list[int]) -> list[nn.Module]:
    """One network per seed, each initialised from torch's generator seeded with its seed, as
    a job training that seed alone initialises it."""
    networks = []
    for seed in seeds:
        torch.manual_seed(seed)
        networks.append(build())
    return networks


def resolve_engine(requested: str, device: torch.device) -> str:
    """``auto`` as the measurements say (looped on a CPU, graphed on CUDA); graphed needs CUDA.
    Whether graphed fits the device's memory is decided once the data is open
    (:func:`pipeline.training.device_memory.plan_device_memory`)."""
    if requested not in ENGINES:
        raise ValueError(f"training.engine {requested!r}: not one of {', '.join(ENGINES)}")
    if requested == "auto":
        return "graphed" if device.type == "cuda" else "looped"
    if requested == "graphed" and device.type != "cuda":
        raise ValueError(
            f"training.engine 'graphed' needs a CUDA device, not {device}; "
            "use auto, looped or packed"
        )
    return requested


class LoopedSeeds:
    """One network and SGD optimiser per seed; a step updates each in turn."""

    def __init__(self, networks: list[nn.Module], learning_rate: float, momentum: float) -> None:
        self.networks = networks
        self.optimizers = [
            MomentumSGD(net.parameters(), lr=learning_rate, momentum=momentum) for net in networks
        ]

    def step(self, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
        """One update of every seed on its own batch (``inputs[k]``); the losses, (seeds,)."""
        losses = []
        for k, (network, optimizer) in enumerate(zip(self.networks, self.optimizers, strict=True)):
            optimizer.zero_grad(set_to_none=True)
            value = loss(network(inputs[k]), targets[k])
            value.backward()
            optimizer.step()
            losses.append(value.detach())
        return torch.stack(losses)

    def train(self) -> None:
        for network in self.networks:
            network.train()

    def network(self, k: int) -> nn.Module:
        """Seed k's network as it is now (for validation)."""
        return self.networks[k]

    def parameters_of(self, k: int) -> dict[str, torch.Tensor]:
        """A copy of seed k's parameters on the CPU (the state dict model.pt holds)."""
        state = self.networks[k].state_dict()
        return copy.deepcopy({name: value.cpu() for name, value in state.items()})

    def state(self) -> dict[str, Any]:
        return {
            "networks": [net.state_dict() for net in self.networks],
            "optimizers": [opt.state_dict() for opt in self.optimizers],
        }

    def restore(self, state: dict[str, Any]) -> None:
        for network, saved in zip(self.networks, state["networks"], strict=True):
            network.load_state_dict(saved)
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)


class _SeedView(nn.Module):
    """Seed k of a :class:`PackedSeeds` as an ordinary network (its parameters, not copies)."""

    def __init__(self, packed: PackedSeeds, k: int) -> None:
        super().__init__()
        self._packed, self._k = [packed], k  # a list: not a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed[0]
        parameters = {name: value[self._k] for name, value in packed.parameters.items()}
        return functional_call(packed.skeleton, parameters, (x,))


class PackedSeeds:
    """The seeds' parameters stacked (seeds, ...) and one vmapped step for all of them."""

    def __init__(self, networks: list[nn.Module], learning_rate: float, momentum: float) -> None:
        if any(True for net in networks for _ in net.buffers()):
            raise ValueError("packed training supports networks without buffers only")
        parameters, _ = stack_module_state(networks)
        self.parameters: dict[str, torch.Tensor] = parameters
        self.skeleton = copy.deepcopy(networks[0]).to("meta")
        self.optimizer = MomentumSGD(
            list(parameters.values()), lr=learning_rate, momentum=momentum
        )
        self.views = [_SeedView(self, k) for k in range(len(networks))]

    def losses(self, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
        """Every seed's loss on its own batch, (seeds,), in one vmapped forward pass."""

        def one_seed(parameters, x, y):
            return loss(functional_call(self.skeleton, parameters, (x,)), y)

        return vmap(one_seed)(self.parameters, inputs, targets)

    def step(self, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
        """One update of every seed on its own batch (``inputs[k]``); the losses, (seeds,)."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.losses(inputs, targets, loss)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def train(self) -> None:
        return None  # no layer behaves differently in training

    def network(self, k: int) -> nn.Module:
        return self.views[k]

    def parameters_of(self, k: int) -> dict[str, torch.Tensor]:
        return {name: value[k].detach().cpu().clone() for name, value in self.parameters.items()}

    def state(self) -> dict[str, Any]:
        return {
            "parameters": {name: value.detach() for name, value in self.parameters.items()},
            "optimizer": self.optimizer.state_dict(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for name, value in self.parameters.items():
                value.copy_(state["parameters"][name])
        self.optimizer.load_state_dict(state["optimizer"])


def build_engine(
    engine: str, networks: list[nn.Module], learning_rate: float, momentum: float
) -> LoopedSeeds | PackedSeeds:
    """The engine ``engine`` (resolved: looped, packed or graphed) over these networks."""
    if engine == "looped":
        return LoopedSeeds(networks, learning_rate, momentum)
    return PackedSeeds(networks, learning_rate, momentum)
