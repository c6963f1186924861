"""On CUDA, the graphed step (draw, gather, forward, backward, SGD replayed from one CUDA
graph) trains as the same step run eagerly. Skipped without a GPU: CI has none."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from pipeline.determinism import cuda_fp32_precision, use_ieee_float32_on_cuda
from pipeline.training.engines import PackedSeeds, seed_networks
from pipeline.training.graph import WARMUP_STEPS, GraphedStep
from pipeline.training.sampling import DeviceSampler, DeviceWindows
from tests.training.engine_data import VARIANTS, builder, source_of

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
UPDATES = 300


@pytest.fixture(autouse=True)
def deterministic_like_training(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CUDA side of training's setup (pipeline.determinism.configure_torch): deterministic
    algorithms, with cuBLAS's workspace setting that they require, and IEEE float32 (not
    TF32). Without it the eager and graphed runs could differ by atomics' order (a flaky test
    run alone), and once another test had switched the mode on, cuBLAS would refuse to run
    unless the setting is there. The setting must precede CUDA's first use of cuBLAS
    (tests/conftest.py sets it at import); the mode and precision are restored afterwards, so
    later tests see the ones they had."""
    if "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    precision = cuda_fp32_precision()
    torch.use_deterministic_algorithms(True)
    use_ieee_float32_on_cuda()  # training's IEEE float32, not TF32
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cuda.matmul.fp32_precision = precision["matmul"]
        torch.backends.cudnn.conv.fp32_precision = precision["conv"]


def _train(front_end: str, graphed: bool) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
    variant, device = VARIANTS[front_end], torch.device("cuda")
    source = source_of(variant)
    engine = PackedSeeds(
        [net.to(device) for net in seed_networks(builder(variant), [1, 2, 3])], 0.05, 0.9
    )
    sampler = DeviceSampler(DeviceWindows(source, source.rows_of("train"), device), 3, 10)
    loss = torch.nn.BCEWithLogitsLoss()

    def step() -> torch.Tensor:
        return engine.step(*sampler(device), loss)

    torch.cuda.manual_seed(0)  # the same draws for both runs
    run = GraphedStep(step, "test") if graphed else step
    total = torch.zeros(3, device=device)
    for _ in range(UPDATES):
        total += run()
    torch.cuda.synchronize()
    return [engine.parameters_of(k) for k in range(3)], total.cpu()


@pytest.mark.parametrize("front_end", VARIANTS)
def test_the_graphed_step_trains_as_the_eager_step(front_end):
    assert torch.are_deterministic_algorithms_enabled()
    eager, eager_loss = _train(front_end, graphed=False)
    graphed, graphed_loss = _train(front_end, graphed=True)
    assert UPDATES > WARMUP_STEPS + 1
    for a, b in zip(eager, graphed, strict=True):
        for name in a:
            assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-5), name
    assert torch.allclose(eager_loss, graphed_loss, rtol=1e-4)
