"""The paper's networks (Figure 1): one shared backbone, two front ends.

Backbone: two 1-D convolutions (32 filters of length 8, ReLU), each followed by max-pooling
of 4 that rounds up like Theano's did (so a 46-frame window at stride 1024 still leaves one
step after the second pool), then dense 100 (ReLU) and dense K (sigmoid, applied in the loss
and at prediction time for numerical stability). Front ends: the cached mel-spectrogram as
is (1a), or a strided convolution of ``length``/``stride`` with 128 filters and ReLU on raw
audio (1b). Only the first block differs; everything else is shared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.config import backbone_output_length
from pipeline.constants import N_MELS


class Backbone(nn.Module):
    """Conv-pool-conv-pool-dense-dense over (batch, channels, frames)."""

    def __init__(self, in_channels: int, frames: int, n_tags: int, model: dict[str, Any]) -> None:
        super().__init__()
        filters, length, pool = model["conv_filters"], model["conv_length"], model["pool_size"]
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, filters, length),
            nn.ReLU(),
            nn.MaxPool1d(pool, ceil_mode=True),
            nn.Conv1d(filters, filters, length),
            nn.ReLU(),
            nn.MaxPool1d(pool, ceil_mode=True),
            nn.Flatten(),
        )
        flat = filters * backbone_output_length(frames, model)
        self.classifier = nn.Sequential(
            nn.Linear(flat, model["dense_units"]),
            nn.ReLU(),
            nn.Linear(model["dense_units"], n_tags),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SpectrogramFrontEnd(nn.Module):
    """Figure 1a: the mel-spectrogram window itself; (batch, frames, mels) -> channels first."""

    out_channels = N_MELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().transpose(1, 2)


class RawAudioFrontEnd(nn.Module):
    """Figure 1b: a strided convolution on raw samples (int16 scaled to [-1, 1]), then ReLU."""

    def __init__(self, filters: int, length: int, stride: int) -> None:
        super().__init__()
        self.out_channels = filters
        self.conv = nn.Conv1d(1, filters, length, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.int16:
            x = x.float() / 32768.0
        return torch.relu(self.conv(x.unsqueeze(1)))


class TaggingNetwork(nn.Module):
    """Front end + backbone; returns one logit per tag."""

    def __init__(self, front_end: nn.Module, backbone: Backbone) -> None:
        super().__init__()
        self.front_end = front_end
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.front_end(x))


def build_model(
    front_end: str, length: int, stride: int, frames: int, n_tags: int, model: dict[str, Any]
) -> TaggingNetwork:
    """The network of one variant, for windows of ``frames`` frames."""
    if front_end == "spectrogram":
        first: nn.Module = SpectrogramFrontEnd()
        channels = N_MELS
    elif front_end == "raw":
        first = RawAudioFrontEnd(model["raw_filters"], length, stride)
        channels = model["raw_filters"]
    else:
        raise ValueError(f"front end must be 'spectrogram' or 'raw', not {front_end!r}")
    return TaggingNetwork(first, Backbone(channels, frames, n_tags, model))


def load_trained(
    model_dir: str | Path, device: torch.device | str = "cpu"
) -> tuple[TaggingNetwork, dict[str, Any]]:
    """A trained network and its config.json; weights are loaded without unpickling code."""
    model_dir = Path(model_dir)
    config_path, weights_path = model_dir / "config.json", model_dir / "model.pt"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; is {model_dir} a trained model directory?")
    config = json.loads(config_path.read_text())
    model = build_model(
        config["front_end"],
        config["length"],
        config["stride"],
        config["window_frames"],
        len(config["tags"]),
        config["model"],
    )
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), config
