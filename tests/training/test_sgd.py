"""The pipeline's SGD is torch.optim.SGD's arithmetic, bit for bit, and resumes from its state."""

from __future__ import annotations

import copy

import pytest
import torch

from pipeline.training.sgd import MomentumSGD


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _train(network: torch.nn.Module, optimizer, steps: range) -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in steps:
        x, y = torch.randn(10, 12, generator=generator), torch.randn(10, 3, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(network(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("foreach", [True, False])
def test_the_same_bits_as_torch_optim_sgd(foreach):
    ours, theirs = _network(), _network()
    _train(ours, MomentumSGD(ours.parameters(), lr=0.05, momentum=0.9), range(25))
    reference = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, foreach=foreach)
    _train(theirs, reference, range(25))
    for mine, torchs in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(mine, torchs)


def test_a_restored_state_continues_bit_for_bit():
    whole, resumed = _network(), _network()
    _train(whole, MomentumSGD(whole.parameters(), 0.05, 0.9), range(20))
    first = MomentumSGD(resumed.parameters(), 0.05, 0.9)
    generator_steps = range(10)
    _train(resumed, first, generator_steps)
    state = copy.deepcopy(first.state_dict())
    second = MomentumSGD(resumed.parameters(), 0.05, 0.9)
    second.load_state_dict(state)
    # the batches of steps 10-19 of the uninterrupted run
    generator = torch.Generator().manual_seed(1)
    for step in range(20):
        x, y = torch.randn(10, 12, generator=generator), torch.randn(10, 3, generator=generator)
        if step < 10:
            continue
        second.zero_grad()
        torch.nn.functional.mse_loss(resumed(x), y).backward()
        second.step()
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_step_without_gradients_is_refused():
    network = _network()
    with pytest.raises(RuntimeError, match="needs a gradient"):
        MomentumSGD(network.parameters(), 0.1, 0.9).step()


def test_no_compiler_is_imported():
    """The point of this module: starting a job does not import torch._dynamo."""
    import subprocess
    import sys

    from tests.conftest import tool_env

    code = (
        "import sys, torch\nfrom pipeline.training.sgd import MomentumSGD\n"
        "MomentumSGD(torch.nn.Linear(2, 2).parameters(), 0.1, 0.9)\n"
        "print('torch._dynamo' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=tool_env(), capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "False", done.stderr
