"""Typed, frozen views of the validated params, built once where a driver enters a step.

Deep functions take only the settings they use (a :class:`TrainingProfile`, the
:class:`ModelSizes`, ...) instead of digging keys out of the whole params dict, so what a
function depends on is visible in its signature. Values are kept exactly as params.yaml
gives them (an int stays an int): config.json and the settings hashes are built from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.config import (
    ParamsError,
    backbone_output_length,
    frames_per_window,
    seconds_to_samples,
    training_profile,
)


def _section(cls: type, key: str, values: dict[str, Any]) -> Any:
    """``cls(**values)``; a missing or unknown key is a :class:`ParamsError` naming ``key``."""
    try:
        return cls(**values)
    except TypeError as error:
        raise ParamsError(f"params.yaml: key '{key}': {error}") from error


@dataclass(frozen=True)
class TrainingProfile:
    """The active profile of training.profiles (selected by training.profile)."""

    name: str
    updates: int
    validate_every: int
    batch_size: int
    learning_rate: float
    momentum: float

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingProfile:
        name = params["training"]["profile"]
        return _section(
            cls, f"training.profiles.{name}", {"name": name, **training_profile(params)}
        )

    def to_config(self, seed: int) -> dict[str, Any]:
        """The "training" entry of config.json: the profile's values, its name and the seed."""
        values = asdict(self)
        del values["name"]
        return {"profile": self.name, "seed": seed, **values}


@dataclass(frozen=True)
class TrainingSettings:
    """How a training (or evaluation) job runs: the profile, the device, the CPU threads and
    the numerics (portable: the same bits on any x86-64 CPU; native: this CPU's fastest)."""

    profile: TrainingProfile
    device: str
    threads: int
    numerics: str = "portable"
    engine: str = "auto"  # how a job trains its seeds: auto, looped, packed, graphed

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingSettings:
        training = params["training"]
        return cls(
            TrainingProfile.from_params(params),
            training["device"],
            training["threads"],
            params["numerics"],
            training["engine"],
        )


@dataclass(frozen=True)
class ModelSizes:
    """The layer sizes of Figure 1 shared by every variant (params.yaml's ``model``)."""

    raw_filters: int
    conv_filters: int
    conv_length: int
    pool_size: int
    dense_units: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ModelSizes:
        return _section(cls, "model", params["model"])

    def to_dict(self) -> dict[str, int]:
        """The "model" entry of config.json (``ModelSizes(**config["model"])`` reads it back)."""
        return asdict(self)

    def output_length(self, frames: int) -> int:
        """Time steps the backbone leaves of a window of ``frames`` frames."""
        return backbone_output_length(frames, self.to_dict())


@dataclass(frozen=True)
class AudioSettings:
    """The input window and the FFT size short frames are padded to."""

    window_seconds: float
    min_n_fft: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> AudioSettings:
        return _section(cls, "audio", params["audio"])

    @property
    def window_samples(self) -> int:
        """The nominal input window in samples."""
        return seconds_to_samples(self.window_seconds)

    def frames(self, length: int, stride: int) -> int:
        """Frames of a (length, stride) framing that fit in the window."""
        return frames_per_window(self.window_samples, length, stride)


@dataclass(frozen=True)
class EvaluationSettings:
    """How predictions are batched."""

    batch_size: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvaluationSettings:
        return _section(cls, "evaluation", params["evaluation"])


@dataclass(frozen=True)
class SynthSettings:
    """The embedded dataset's size, seed and annotation noise."""

    clips_per_part: int
    seed: int
    label_noise: float

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SynthSettings:
        return _section(cls, "synth", params["synth"])


@dataclass(frozen=True)
class SplitSettings:
    """How many tags are kept and what happens to clips with none of them."""

    n_tags: int
    flavour: str

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SplitSettings:
        return _section(cls, "split", params["split"])


@dataclass(frozen=True)
class Settings:
    """Every typed settings group of one params dict."""

    dataset: str
    synth: SynthSettings
    split: SplitSettings
    audio: AudioSettings
    model: ModelSizes
    training: TrainingSettings
    evaluation: EvaluationSettings

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Settings:
        return cls(
            dataset=params["dataset"],
            synth=SynthSettings.from_params(params),
            split=SplitSettings.from_params(params),
            audio=AudioSettings.from_params(params),
            model=ModelSizes.from_params(params),
            training=TrainingSettings.from_params(params),
            evaluation=EvaluationSettings.from_params(params),
        )
