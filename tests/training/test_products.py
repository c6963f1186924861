"""The pinned products: torch's convolutions and dense layers, computed by the pinned OpenBLAS.

They must compute what torch's layers compute (checked against float64 references, forward
and backward, for every kind of convolution the grid has), be drop-ins (same parameters), and
leave no torch matrix product in a portable training step, so neither MKL nor oneDNN can
decide a model's bits.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional

from pipeline import pinned_blas
from pipeline.config import Variant
from pipeline.determinism import configure_torch
from pipeline.settings import ModelSizes
from pipeline.training import products
from pipeline.training.networks import build_variant_model

SIZES = ModelSizes(raw_filters=128, conv_filters=32, conv_length=8, pool_size=4, dense_units=100)


@pytest.fixture(autouse=True, scope="module")
def portable():
    configure_torch("portable", threads=1)
    assert pinned_blas.active() is not None


def _close(reference: torch.Tensor, pinned: torch.Tensor) -> None:
    """Float32 products against a float64 reference: relative to the largest value."""
    scale = reference.abs().max().item()
    assert (reference - pinned.double()).abs().max().item() <= 2e-6 * scale


@pytest.mark.parametrize(
    ("batch", "channels", "steps", "filters", "length", "stride"),
    [
        (10, 128, 187, 32, 8, 1),  # backbone convolution
        (3, 1, 47872, 128, 512, 256),  # raw audio, length = 2 x stride (blocks as taps)
        (3, 1, 47104, 128, 1024, 1024),  # raw audio, length = stride
        (3, 1, 48000, 128, 512, 256),  # a window that is not a whole number of blocks
        (2, 3, 50, 5, 7, 3),  # any other framing: the frames themselves
    ],
)
def test_a_pinned_convolution_computes_torchs(batch, channels, steps, filters, length, stride):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, steps, generator=generator, requires_grad=channels > 1)
    weight = torch.randn(filters, channels, length, generator=generator, requires_grad=True)
    bias = torch.randn(filters, generator=generator, requires_grad=True)
    wanted = [t for t in (x, weight, bias) if t.requires_grad]
    reference = functional.conv1d(x.double(), weight.double(), bias.double(), stride=stride)
    pinned = products.pinned_conv1d(x, weight, bias, stride)
    assert pinned.shape == reference.shape
    _close(reference, pinned)
    grad = torch.randn(reference.shape, generator=generator, dtype=torch.float64)
    for expected, got in zip(
        torch.autograd.grad(reference, wanted, grad),
        torch.autograd.grad(pinned, wanted, grad.float()),
        strict=True,
    ):
        _close(expected, got)


def test_a_pinned_dense_layer_computes_torchs():
    generator = torch.Generator().manual_seed(1)
    layer = products.Linear(96, 100)
    x = torch.randn(10, 96, generator=generator, requires_grad=True)
    reference = functional.linear(x.double(), layer.weight.double(), layer.bias.double())
    pinned = layer(x)
    _close(reference, pinned)
    grad = torch.randn(10, 100, generator=generator, dtype=torch.float64)
    inputs = (x, layer.weight, layer.bias)
    for expected, got in zip(
        torch.autograd.grad(reference, inputs, grad),
        torch.autograd.grad(pinned, inputs, grad.float()),
        strict=True,
    ):
        _close(expected, got)


def test_the_layers_are_drop_ins_for_torchs():
    """Same parameters and state-dict names: model.pt files load into either."""
    assert products.Conv1d(1, 4, 8, stride=4).state_dict().keys() == (
        nn.Conv1d(1, 4, 8, stride=4).state_dict().keys()
    )
    assert products.Linear(3, 2).state_dict().keys() == nn.Linear(3, 2).state_dict().keys()


def test_without_the_pinned_products_the_layers_are_torchs(monkeypatch):
    monkeypatch.setattr(pinned_blas, "active", lambda: None)
    layer = products.Conv1d(2, 3, 4, stride=2)
    x = torch.randn(2, 2, 20)
    assert torch.equal(layer(x), functional.conv1d(x, layer.weight, layer.bias, stride=2))


@pytest.mark.parametrize(
    "variant",
    [
        Variant("raw", 512, 256),
        Variant("spectrogram", 256, 256),
        Variant("raw", 1024, 1024, pooling="l2", pool_size=4),
    ],
    ids=lambda v: v.name,
)
def test_a_portable_training_step_runs_no_torch_matrix_product(variant):
    """Every product of the step is the pinned library's, so MKL and oneDNN decide no bit."""
    frames = 1 + (48000 - variant.length) // variant.stride
    network = build_variant_model(variant, frames, 50, SIZES)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9, foreach=True)
    if variant.front_end == "raw":
        x = torch.randint(-8000, 8000, (10, (frames - 1) * variant.stride + variant.length))
        x = x.to(torch.int16)
    else:
        x = torch.rand(10, frames, 128).half()
    y = (torch.rand(10, 50) > 0.8).float()
    with torch.profiler.profile() as profiler:
        loss = functional.binary_cross_entropy_with_logits(network(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    ran = {event.name for event in profiler.events()}
    torch_products = {
        name for name in ran if name.startswith("aten::") and ("conv" in name or "mm" in name)
    }
    assert not torch_products, f"torch's own products ran: {sorted(torch_products)}"
    assert {"_ShiftedRowsConv", "_Dense"} <= ran


def _conv_and_dense(x, weight, bias, stride, layer, dense_x):
    """A pinned convolution and dense layer, forward and backward, in float32."""
    conv = products.pinned_conv1d(x, weight, bias, stride)
    dense = layer(dense_x)
    inputs = (x, weight, bias, layer.weight, layer.bias, dense_x)
    grads = torch.autograd.grad((conv.sum() * 1.5 + dense.square().sum()), inputs)
    return [conv, dense, *grads]


@pytest.mark.parametrize(
    ("channels", "steps", "length", "stride"), [(4, 40, 8, 1), (1, 4096, 512, 256)]
)
def test_the_products_write_every_element_of_what_they_allocate_unfilled(
    monkeypatch, channels, steps, length, stride
):
    """The products' outputs and gradients are allocated without deterministic mode's fill:
    allocated full of NaN instead, they must give exactly the same outputs and gradients (a
    NaN left unwritten would spread into them)."""
    assert torch.are_deterministic_algorithms_enabled()
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(3, channels, steps, generator=generator, requires_grad=True)
    weight = torch.randn(6, channels, length, generator=generator, requires_grad=True)
    bias = torch.randn(6, generator=generator, requires_grad=True)
    layer = products.Linear(12, 5)
    dense_x = torch.randn(7, 12, generator=generator, requires_grad=True)
    plain = _conv_and_dense(x, weight, bias, stride, layer, dense_x)
    allocated = []

    def full_of_nan(*size, **options):
        allocated.append(size)
        return torch.full(size, float("nan"), **options)

    monkeypatch.setattr(products, "empty_to_overwrite", full_of_nan)
    poisoned = _conv_and_dense(x, weight, bias, stride, layer, dense_x)
    assert len(allocated) >= 6  # both layers' outputs and gradients
    for a, b in zip(plain, poisoned, strict=True):
        assert not b.isnan().any() and torch.equal(a, b)


def test_an_empty_tensor_to_overwrite_skips_the_fill_and_only_it(monkeypatch):
    """The fill is off for that allocation alone: the setting is back on after it (also when
    the allocation fails), so every other empty tensor is still filled."""
    from torch.utils import deterministic

    from pipeline.determinism import empty_to_overwrite

    assert deterministic.fill_uninitialized_memory
    seen = []
    real_empty = torch.empty
    monkeypatch.setattr(
        torch,
        "empty",
        lambda *a, **k: seen.append(deterministic.fill_uninitialized_memory) or real_empty(*a, **k),
    )
    assert empty_to_overwrite(2, 3, dtype=torch.int16).shape == (2, 3)
    assert seen == [False] and deterministic.fill_uninitialized_memory
    with pytest.raises(TypeError):
        empty_to_overwrite(2, dtype="not a dtype")
    assert deterministic.fill_uninitialized_memory
    assert real_empty(3, dtype=torch.int16).tolist() == [32767] * 3  # filled, as before
