"""Trained networks for tagging: one model directory, or a folder of seeds to be averaged.

Anything wrong here (a folder that is not a trained model, seeds that disagree, a device that
cannot be had) is the caller's mistake rather than a file's, hence :class:`UsageError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pipeline.determinism import NUMERICS_MODES
from pipeline.training.networks import load_trained, select_device

INPUT_KEYS = ("front_end", "length", "stride", "window_frames", "window_samples", "min_n_fft")
"""config.json keys that fix a model's input windows; models averaged must share them (and tags)."""


class UsageError(ValueError):
    """A model directory that is not a trained model, an unusable device, or kernels this
    process cannot have (exit 2)."""


def model_dirs(model_dir: str | Path) -> list[Path]:
    """``model_dir`` if it is a trained model, else its subfolders that are (one per seed)."""
    model_dir = Path(model_dir)
    if (model_dir / "config.json").is_file() or not model_dir.is_dir():
        return [model_dir]
    found = sorted(
        p.parent for p in model_dir.glob("*/config.json") if p.with_name("model.pt").is_file()
    )
    return found or [model_dir]


def trained_numerics(model_dir: str | Path) -> str:
    """The numerics the (first) model was trained with, read before any network is built:
    torch fixes its kernels at its first operation.

    A config.json without ``numerics`` was written before the setting existed, when every
    model was trained with torch's own kernels: it means ``native``. A folder that is not a
    trained model, a config.json that cannot be read or parsed, or a value that is not a
    numerics mode is a :class:`UsageError`, never a guess.
    """
    first = model_dirs(model_dir)[0]
    _require_model_files(first)
    config_path = first / "config.json"
    numerics = read_config(config_path).get("numerics", "native")
    if numerics not in NUMERICS_MODES:
        raise UsageError(
            f"{config_path}: numerics {numerics!r} is not one of {', '.join(NUMERICS_MODES)}; "
            "this config.json was not written by this project's training: retrain the model, "
            "or pass a folder written by training"
        )
    return numerics


def read_config(config_path: Path) -> dict[str, Any]:
    """A model's config.json as a dict; a file that cannot be read or is not a JSON object
    is a :class:`UsageError` naming it, since nothing about the model can be trusted then."""
    fix = "restore it from training's outputs (e.g. `dvc checkout`) or retrain the model"
    try:
        config = json.loads(config_path.read_text())
    except OSError as error:
        raise UsageError(
            f"{config_path}: cannot be read ({error.strerror or error}); make it readable, or {fix}"
        ) from error
    except ValueError as error:  # invalid JSON, or bytes that are not UTF-8
        raise UsageError(f"{config_path}: not valid JSON ({_one_line(error)}); {fix}") from error
    if not isinstance(config, dict):
        raise UsageError(
            f"{config_path}: holds a JSON {type(config).__name__}, not the object training "
            f"writes; {fix}"
        )
    return config


def load_models(
    model_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[list[torch.nn.Module], dict[str, Any]]:
    """Every model of :func:`model_dirs` and the first one's config.json.

    Raises :class:`UsageError` if they disagree on the input they take or the tags they give.
    """
    paths = model_dirs(model_dir)
    loaded = [load_model(path, device) for path in paths]
    config = loaded[0][1]
    for path, (_, other) in zip(paths, loaded, strict=True):
        differ = [key for key in (*INPUT_KEYS, "tags") if other.get(key) != config.get(key)]
        if differ:
            raise UsageError(
                f"model directory {model_dir}: {path} differs from the first model in "
                f"{', '.join(differ)}; cannot average them (pass one model directory)"
            )
    return [model for model, _ in loaded], config


def load_model(
    model_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """:func:`pipeline.training.networks.load_trained`, with a usage error saying what DIR holds."""
    model_dir = Path(model_dir)
    _require_model_files(model_dir)
    try:
        return load_trained(model_dir, device)
    except Exception as error:  # unpickling arbitrary bytes can raise almost any exception
        raise UsageError(
            f"{model_dir / 'model.pt'}: not a trained model matching the config.json beside it "
            f"({_one_line(error)}); retrain it, or pass a folder written by training"
        ) from error


def _require_model_files(model_dir: Path) -> None:
    """A usage error saying what a model directory should hold, when it does not."""
    if not (model_dir / "config.json").is_file() or not (model_dir / "model.pt").is_file():
        what = "does not exist" if not model_dir.is_dir() else "is not a trained model"
        raise UsageError(
            f"model directory {model_dir} {what}: it should contain config.json and model.pt "
            "written by training (or one such folder per seed), e.g. "
            "models/synth/spectrogram_512_256"
        )


def _one_line(error: Exception, limit: int = 200) -> str:
    """The error's type and first sentence on one line: torch's messages run to paragraphs."""
    text = " ".join(str(error).split()).split(". ")[0]
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def resolve_device(device: str) -> torch.device:
    """The ``--device`` option as a torch device; a device that cannot be had is a usage error."""
    try:
        return select_device(device, "--device")
    except ValueError as error:
        raise UsageError(str(error)) from error
