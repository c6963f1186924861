import copy
import dataclasses

import pytest

from pipeline.config import ParamsError, load_params, window_length_samples
from pipeline.settings import (
    AudioSettings,
    ModelSizes,
    Settings,
    TrainingProfile,
    TrainingSettings,
)
from tests.conftest import REPO


@pytest.fixture()
def params():
    return load_params(REPO / "params.yaml")


def test_from_params_reads_every_group_of_params_yaml(params):
    settings = Settings.from_params(params)
    assert settings.dataset == "synth"
    assert (settings.synth.clips_per_part, settings.synth.seed) == (24, 2014)
    assert settings.synth.label_noise == 0.1
    assert (settings.split.n_tags, settings.split.flavour) == (50, "paper")
    assert settings.model == ModelSizes(128, 32, 8, 4, 100)
    assert (settings.audio.window_seconds, settings.audio.min_n_fft) == (3.0, 1024)
    assert settings.evaluation.batch_size == 256
    assert (settings.training.device, settings.training.threads) == ("auto", 1)
    assert settings.training.profile == TrainingProfile("quick", 1500, 125, 10, 0.02, 0.9)


def test_settings_are_frozen(params):
    settings = Settings.from_params(params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model.conv_filters = 64  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.training.profile.updates = 1  # type: ignore[misc]


def test_training_profile_picks_the_one_training_profile_names(params):
    params["training"]["profile"] = "paper"
    profile = TrainingSettings.from_params(params).profile
    assert (profile.name, profile.updates, profile.learning_rate) == ("paper", 5_000_000, 0.01)


def test_an_unknown_profile_is_rejected_naming_the_key(params):
    params["training"]["profile"] = "fast"
    with pytest.raises(ParamsError, match="'training.profile'.*'fast'"):
        TrainingProfile.from_params(params)


@pytest.mark.parametrize(
    ("section", "build"),
    [("model", ModelSizes.from_params), ("audio", AudioSettings.from_params)],
)
def test_an_unknown_or_missing_key_is_rejected_naming_the_section(params, section, build):
    extra = copy.deepcopy(params)
    extra[section]["surprise"] = 1
    with pytest.raises(ParamsError, match=f"key '{section}'.*surprise"):
        build(extra)
    missing = copy.deepcopy(params)
    missing[section].popitem()
    with pytest.raises(ParamsError, match=f"key '{section}'"):
        build(missing)


@pytest.mark.parametrize("seconds", [3.0, 2.99997, 0.5, 29])
def test_window_samples_matches_the_params_helper(params, seconds):
    params["audio"]["window_seconds"] = seconds
    assert AudioSettings.from_params(params).window_samples == window_length_samples(params)
    assert AudioSettings(3.0, 1024).window_samples == 48_000


def test_frames_and_backbone_length_follow_the_window(params):
    audio, model = AudioSettings(3.0, 1024), ModelSizes.from_params(params)
    assert audio.frames(1024, 1024) == 46
    assert model.output_length(46) == 1
    with pytest.raises(ValueError, match="shorter than a frame"):
        AudioSettings(0.01, 1024).frames(1024, 1024)


def test_config_dicts_keep_the_params_values_and_types(params):
    """config.json is written from these: the same keys, values and int/float types."""
    model = ModelSizes.from_params(params)
    assert model.to_dict() == params["model"]
    assert ModelSizes(**model.to_dict()) == model
    params["training"]["profiles"]["quick"]["momentum"] = 1  # an int stays an int
    config = TrainingProfile.from_params(params).to_config(seed=7)
    assert config == {"profile": "quick", "seed": 7, **params["training"]["profiles"]["quick"]}
    assert type(config["momentum"]) is int and type(config["learning_rate"]) is float
