import pytest
import torch

from pipeline.config import frames_per_window, load_params, table1_variants
from pipeline.models import build_model
from pipeline.windows import raw_window_samples
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
