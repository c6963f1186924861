import math

import numpy as np
import pytest
import torch

from pipeline.config import all_variants, frames_per_window, load_params, table1_variants
from pipeline.features.mel import hz_to_mel, mel_to_hz
from pipeline.features.windows import raw_window_samples
from pipeline.training.networks import (
    NONLINEARITIES,
    build_model,
    build_variant_model,
    feature_pool,
    use_device,
)
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


@pytest.mark.parametrize("variant", table1_variants(PARAMS), ids=lambda v: v.name)
def test_output_shape_for_every_grid_pair(variant):
    frames = frames_per_window(48_000, variant.length, variant.stride)
    model = build_model(
        variant.front_end, variant.length, variant.stride, frames, 50, PARAMS["model"]
    )
    if variant.front_end == "spectrogram":
        batch = torch.rand(3, frames, 128).half()
    else:
        batch = torch.randint(
            -3000,
            3000,
            (3, raw_window_samples(frames, variant.length, variant.stride)),
            dtype=torch.int16,
        )
    out = model(batch)
    assert out.shape == (3, 50)
    assert torch.isfinite(out).all()


def test_raw_front_end_matches_figure_1b():
    model = build_model("raw", 512, 256, 186, 50, PARAMS["model"])
    conv = model.front_end.conv
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (
        1,
        128,
        (512,),
        (256,),
    )
    convs = [m for m in model.backbone.features if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0]) for c in convs] == [(32, 8), (32, 8)]
    dense = [m for m in model.backbone.classifier if isinstance(m, torch.nn.Linear)]
    assert [d.out_features for d in dense] == [100, 50]


@pytest.mark.parametrize("variant", all_variants(PARAMS), ids=lambda v: v.name)
def test_every_variant_of_every_table_builds_and_runs(variant):
    frames = frames_per_window(48_000, variant.length, variant.stride)
    model = build_variant_model(variant, frames, 50, PARAMS["model"])
    samples = raw_window_samples(frames, variant.length, variant.stride)
    batch = (
        torch.rand(2, frames, 128)
        if variant.front_end == "spectrogram"
        else torch.randint(-20000, 20000, (2, samples), dtype=torch.int16)
    )
    out = model(batch)
    out.sum().backward()
    assert out.shape == (2, 50)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_feature_pooling_by_hand():
    x = torch.tensor([[[3.0], [4.0], [-1.0], [2.0]]])  # (batch 1, 4 filters, 1 step)
    assert torch.allclose(feature_pool(x, "l2", 2)[0, :, 0], torch.tensor([5.0, 5.0**0.5]))
    assert torch.allclose(feature_pool(x, "max", 2)[0, :, 0], torch.tensor([4.0, 2.0]))
    assert torch.allclose(feature_pool(x, "l2", 4)[0, :, 0], torch.tensor([30.0**0.5]))


def test_log_nonlinearities_are_finite_for_negative_inputs():
    x = torch.linspace(-1, 1, 101, requires_grad=True)
    for name in ("log_x2", "log_abs_x"):
        y = NONLINEARITIES[name](x)
        y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
        assert torch.allclose(y, y.flip(0)), "an even function of the linear output"
        x.grad = None
    assert NONLINEARITIES["log_abs_x"](torch.tensor([0.5])).item() == pytest.approx(
        math.log(1 + 10000 * 0.5)
    )


def test_pooling_keeps_filters_but_cuts_parameters():
    frames = frames_per_window(48_000, 1024, 1024)
    plain = build_model("raw", 1024, 1024, frames, 50, PARAMS["model"])
    pooled = build_model("raw", 1024, 1024, frames, 50, PARAMS["model"], pooling="l2", pool_size=4)
    assert pooled.front_end.conv.out_channels == plain.front_end.conv.out_channels == 128
    assert pooled.backbone.features[0].in_channels == 32
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(pooled) < count(plain)


def test_mel_initialisation_is_mel_spaced_sinusoids():
    frames = frames_per_window(48_000, 1024, 1024)
    model = build_model("raw", 1024, 1024, frames, 50, PARAMS["model"], init="mel")
    weights = model.front_end.conv.weight[:, 0].detach().numpy()
    dominant = np.argmax(np.abs(np.fft.rfft(weights, 4096, axis=1)), axis=1) * 16000 / 4096
    centres = mel_to_hz(np.linspace(0, hz_to_mel(np.array([8000.0]))[0], 130))[1:-1]
    assert np.all(np.abs(dominant - centres) < 20)
    assert np.all(np.diff(dominant) >= 0), "ordered low to high"
    random = build_model("raw", 1024, 1024, frames, 50, PARAMS["model"])
    norms = np.linalg.norm(weights, axis=1)
    random_norms = np.linalg.norm(random.front_end.conv.weight[:, 0].detach().numpy(), axis=1)
    assert abs(norms.mean() / random_norms.mean() - 1) < 0.05, "same scale as Glorot"


def test_a_numbered_cuda_device_is_made_current_and_an_absent_one_refused(monkeypatch):
    """Streams and CUDA graphs are made on the current device: training on cuda:1 must make
    it current, or its step would be captured on cuda:0 (CUDA is stood in for)."""
    made_current = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", made_current.append)
    for device in ("cpu", "cuda", "cuda:1"):
        use_device(torch.device(device))
    assert made_current == [torch.device("cuda:1")]
    with pytest.raises(ValueError, match=r"training.device 'cuda:2': only 2 CUDA device\(s\)"):
        use_device(torch.device("cuda:2"), "training.device")
