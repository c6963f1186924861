"""The paper's networks (Figure 1): one shared backbone, two front ends.

Backbone: two 1-D convolutions (32 filters of length 8, ReLU), each followed by max-pooling
of 4 that rounds up like Theano's did (so a 46-frame window at stride 1024 still leaves one
step after the second pool), then dense 100 (ReLU) and dense K (sigmoid, applied in the loss
and at prediction time for numerical stability). Front ends: the cached mel-spectrogram as
is (1a), or a strided convolution of ``length``/``stride`` with 128 filters and ReLU on raw
audio (1b). Only the first block differs; everything else is shared. The convolutions and
dense layers are :mod:`pipeline.training.products`' drop-ins for torch's, whose matrix
products are pinned under portable numerics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline import atomic
from pipeline.config import canonical_json
from pipeline.constants import MEL_COMPRESSION_C, N_MELS, SAMPLE_RATE
from pipeline.features.mel import hz_to_mel, mel_to_hz
from pipeline.settings import ModelSizes
from pipeline.training import products
from pipeline.training.checkpoint import atomic_torch_save


class Backbone(nn.Module):
    """Conv-pool-conv-pool-dense-dense over (batch, channels, frames)."""

    def __init__(self, in_channels: int, frames: int, n_tags: int, model: ModelSizes) -> None:
        super().__init__()
        filters, length, pool = model.conv_filters, model.conv_length, model.pool_size
        self.features = nn.Sequential(
            products.Conv1d(in_channels, filters, length),
            nn.ReLU(),
            nn.MaxPool1d(pool, ceil_mode=True),
            products.Conv1d(filters, filters, length),
            nn.ReLU(),
            nn.MaxPool1d(pool, ceil_mode=True),
            nn.Flatten(),
        )
        flat = filters * model.output_length(frames)
        self.classifier = nn.Sequential(
            products.Linear(flat, model.dense_units),
            nn.ReLU(),
            products.Linear(model.dense_units, n_tags),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SpectrogramFrontEnd(nn.Module):
    """Figure 1a: the mel-spectrogram window itself; (batch, frames, mels) -> channels first."""

    out_channels = N_MELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().transpose(1, 2)


def _log_x2(x: torch.Tensor) -> torch.Tensor:
    return torch.log1p(MEL_COMPRESSION_C * x * x)


def _log_abs_x(x: torch.Tensor) -> torch.Tensor:
    return torch.log1p(MEL_COMPRESSION_C * x.abs())


NONLINEARITIES = {"relu": torch.relu, "log_x2": _log_x2, "log_abs_x": _log_abs_x}
"""The strided layer's nonlinearity (Table 2). The paper's log(1 + C x) is undefined for
x <= -1/C; ``log_abs_x`` compresses the magnitude |x| instead, as the spectrogram compresses
magnitudes, and like ``log_x2`` it replaces rectification rather than adding to it."""


def glorot_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every conv and dense layer of ``module``.

    The paper does not state its initialisation; Glorot's was the standard in 2014 Theano
    code. For the strided layer it is about 5x smaller than PyTorch's default, so what the
    filters learn is not buried under their random starting point.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


def feature_pool(x: torch.Tensor, kind: str, size: int) -> torch.Tensor:
    """Pool across groups of ``size`` consecutive filters (Figure 1c): (B, F, T) -> (B, F/size, T).

    L2 pooling is the square root of the sum of squares of the linear outputs (phase
    invariance, Hyvarinen & Hoyer); max pooling is maxout. Both are the layer's nonlinearity.
    """
    batch, filters, steps = x.shape
    groups = x.reshape(batch, filters // size, size, steps)
    if kind == "l2":
        return torch.sqrt(groups.square().sum(dim=2) + 1e-12)
    if kind == "max":
        return groups.amax(dim=2)
    raise ValueError(f"feature pooling must be 'l2' or 'max', not {kind!r}")


def mel_sinusoid_filters(filters: int, length: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Hann-windowed sinusoids at mel-spaced frequencies, phases alternating 0 and 90 degrees.

    Shape (filters, 1, length), each scaled to the mean norm Glorot initialisation gives, so
    the optimiser starts from the same scale as with random initialisation. A strided
    convolution with these filters and a rectifier acts like a (half-wave) mel filterbank: the
    paper's proposed "initialisation that mimics spectrogram extraction" (section 5).
    """
    top = hz_to_mel(np.array([sample_rate / 2.0]))[0]
    centres = mel_to_hz(np.linspace(0.0, top, filters + 2))[1:-1]
    t = np.arange(length) / sample_rate
    phases = np.where(np.arange(filters) % 2 == 0, 0.0, np.pi / 2)
    window = np.hanning(length + 1)[:-1]
    bank = window * np.cos(2 * np.pi * centres[:, None] * t[None, :] + phases[:, None])
    bound = np.sqrt(6.0 / (length + filters * length))  # Glorot uniform, fan in/out of the layer
    bank *= bound * np.sqrt(length / 3.0) / np.linalg.norm(bank, axis=1, keepdims=True)
    return torch.from_numpy(bank.astype(np.float32)).unsqueeze(1)


class RawAudioFrontEnd(nn.Module):
    """Figure 1b/1c: a strided convolution on raw samples (int16 scaled to [-1, 1]), then the
    nonlinearity (Table 2) or a pooling across groups of filters (Table 3)."""

    def __init__(
        self,
        filters: int,
        length: int,
        stride: int,
        nonlinearity: str = "relu",
        pooling: str = "none",
        pool_size: int = 1,
        init: str = "random",
    ) -> None:
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}")
        self.conv = products.Conv1d(1, filters, length, stride=stride)
        if init not in ("random", "mel"):
            raise ValueError(f"init must be 'random' or 'mel', not {init!r}")
        self.init = init
        self.nonlinearity, self.pooling, self.pool_size = nonlinearity, pooling, pool_size
        self.out_channels = filters // pool_size if pooling != "none" else filters

    def reset_parameters(self) -> None:
        """Mel-spaced windowed sinusoids (init 'mel'), else Glorot like every other layer."""
        glorot_init(self.conv)
        if self.init == "mel":
            filters, _, length = self.conv.weight.shape
            with torch.no_grad():
                self.conv.weight.copy_(mel_sinusoid_filters(filters, length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.int16:
            x = x.float().mul_(1.0 / 32768.0)  # a power of two: the bits of x / 32768, faster
        linear = self.conv(x.unsqueeze(1))
        if self.pooling != "none":
            return feature_pool(linear, self.pooling, self.pool_size)
        return NONLINEARITIES[self.nonlinearity](linear)


class TaggingNetwork(nn.Module):
    """Front end + backbone; returns one logit per tag."""

    def __init__(self, front_end: nn.Module, backbone: Backbone) -> None:
        super().__init__()
        self.front_end = front_end
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.front_end(x))


def build_model(
    front_end: str,
    length: int,
    stride: int,
    frames: int,
    n_tags: int,
    model: ModelSizes | Mapping[str, int],
    *,
    nonlinearity: str = "relu",
    pooling: str = "none",
    pool_size: int = 1,
    init: str = "random",
) -> TaggingNetwork:
    """The network of one variant, for windows of ``frames`` frames.

    ``model`` may also be the plain dict of params.yaml or config.json (``"model"``).
    """
    sizes = model if isinstance(model, ModelSizes) else ModelSizes(**model)
    if front_end == "spectrogram":
        first: nn.Module = SpectrogramFrontEnd()
    elif front_end == "raw":
        first = RawAudioFrontEnd(
            sizes.raw_filters, length, stride, nonlinearity, pooling, pool_size, init
        )
    else:
        raise ValueError(f"front end must be 'spectrogram' or 'raw', not {front_end!r}")
    network = TaggingNetwork(first, Backbone(first.out_channels, frames, n_tags, sizes))
    glorot_init(network.backbone)
    if isinstance(first, RawAudioFrontEnd):
        first.reset_parameters()
    return network


def build_variant_model(
    variant: Any, frames: int, n_tags: int, model: ModelSizes | Mapping[str, int]
) -> TaggingNetwork:
    """:func:`build_model` from a :class:`pipeline.config.Variant` or its dict (config.json)."""
    fields = variant if isinstance(variant, dict) else variant.to_dict()
    return build_model(
        fields["front_end"],
        fields["length"],
        fields["stride"],
        frames,
        n_tags,
        model,
        nonlinearity=fields.get("nonlinearity", "relu"),
        pooling=fields.get("pooling", "none"),
        pool_size=fields.get("pool_size", 1),
        init=fields.get("init", "random"),
    )


def select_device(requested: str, setting: str = "device") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; asking for CUDA without one is an error.

    Accepts ``cpu``, ``cuda`` and ``cuda:N``; ``setting`` names the option in error messages.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{setting} {requested!r}: no CUDA device is visible; use 'auto' or 'cpu'")
    try:
        return torch.device(requested)
    except RuntimeError as error:
        raise ValueError(f"{setting} {requested!r}: not a device; use auto, cpu or cuda") from error


def use_device(device: torch.device, setting: str = "device") -> None:
    """Make ``device`` the current CUDA device when it names one (``cuda:N``): streams, CUDA
    graphs and their memory pools belong to the current device, not to the tensors' one, so
    a graphed step on ``cuda:1`` would otherwise be captured on ``cuda:0``. Call it after
    :func:`pipeline.determinism.configure_torch` (it starts CUDA); nothing for the CPU or a
    bare ``cuda`` (the current device already)."""
    if device.type != "cuda" or device.index is None:
        return
    visible = torch.cuda.device_count()
    if device.index >= visible:
        raise ValueError(
            f"{setting} {str(device)!r}: only {visible} CUDA device(s) are visible "
            f"(cuda:0 to cuda:{visible - 1})"
        )
    torch.cuda.set_device(device)


def network_config(
    variant: Any, frames: int, tags: list[str], model: ModelSizes, min_n_fft: int
) -> dict[str, Any]:
    """What config.json needs to rebuild a network and cut its inputs (:func:`load_trained`
    and ``e2e-tag`` read it); training adds how it was trained. ``variant`` is a
    :class:`pipeline.config.Variant`."""
    return {
        "variant": variant.name,
        **variant.to_dict(),
        "sample_rate": SAMPLE_RATE,
        "window_frames": frames,
        "window_samples": (frames - 1) * variant.stride + variant.length,
        "min_n_fft": min_n_fft,
        "tags": tags,
        "model": model.to_dict(),
    }


def save_trained(folder: Path, state: Mapping[str, torch.Tensor], config: dict[str, Any]) -> None:
    """A trained-model folder: model.pt (the state dict) and config.json, each written
    atomically; config.json as canonical JSON (sorted keys), so its bytes follow its content."""
    atomic_torch_save(state, folder / "model.pt")
    atomic.write_text(folder / "config.json", canonical_json(config) + "\n")


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
    model = build_variant_model(
        config, config["window_frames"], len(config["tags"]), ModelSizes(**config["model"])
    )
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), config
