import copy

import numpy as np
import pytest
import torch
import yaml

from pipeline.config import (
    ParamsError,
    all_variants,
    backbone_output_length,
    find_variant,
    frames_per_window,
    load_params,
    mel_pairs,
    table1_variants,
    table2_variants,
    table4_variants,
    validate_params,
    variant_pairs,
    window_length_samples,
)
from pipeline.features.mel import log_mel_spectrogram
from pipeline.features.windows import raw_window_samples
from pipeline.settings import ModelSizes
from pipeline.training.networks import Backbone, RawAudioFrontEnd
from tests.conftest import REPO


@pytest.fixture()
def params():
    return load_params(REPO / "params.yaml")


def test_repository_params_are_valid(params):
    names = [v.name for v in table1_variants(params)]
    assert len(names) == 10 and "raw_256_256" in names and "spectrogram_1024_512" in names
    assert mel_pairs(params) == [(256, 256), (512, 256), (512, 512), (1024, 512), (1024, 1024)]


def test_the_paper_configfile_layers_mtat_and_the_paper_profile_over_params(params):
    """config/mtat-paper.yaml as `snakemake --configfile` merges it, key by key."""
    from snakemake.utils import update_config

    update_config(params, yaml.safe_load((REPO / "config/mtat-paper.yaml").read_text()))
    validate_params(params)
    assert (params["dataset"], params["training"]["profile"]) == ("mtat", "paper")
    assert params["training"]["profiles"]["paper"]["updates"] == 5_000_000
    assert params["training"]["threads"] == 1  # params.yaml's, untouched


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda p: p.update(dataset="spotify"), "'dataset'"),
        (
            lambda p: p["training"]["profiles"]["quick"].update(updates=-1),
            "'training.profiles.quick.updates'",
        ),
        (
            lambda p: p["experiments"]["table1"][1].update(stride="x"),
            "'experiments.table1.1.stride'",
        ),
        (lambda p: p["split"].update(flavour="tidy"), "'split.flavour'"),
        (lambda p: p.update(unknown_key=1), "'(top level)'"),
        (lambda p: p["training"].update(profile="fast"), "'training.profile'"),
        (lambda p: p["training"].update(engine="turbo"), "'training.engine'"),
        (lambda p: p.update(dataset="folder", folder_dir=None), "'folder_dir'"),
        (lambda p: p["experiments"]["table1"][0].update(stride=2048), "'experiments.table1[0]'"),
        (lambda p: p["audio"].update(window_seconds=0.5), "'experiments.table1[0]'"),
    ],
)
def test_bad_values_name_their_key(params, edit, key):
    bad = copy.deepcopy(params)
    edit(bad)
    with pytest.raises(
        ParamsError, match=key.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        validate_params(bad)


@pytest.fixture(scope="module")
def window_pairs():
    """The nominal window and every (length, stride) pair of the repository's grid."""
    repository = load_params(REPO / "params.yaml")
    return window_length_samples(repository), variant_pairs(repository)


def test_frames_per_window_is_what_the_mel_front_end_produces(window_pairs):
    window, pairs = window_pairs
    silence = np.zeros(window, dtype=np.float32)
    for length, stride in pairs:
        frames = frames_per_window(window, length, stride)
        assert len(log_mel_spectrogram(silence, length, stride)) == frames, (length, stride)
        raw = RawAudioFrontEnd(1, length, stride)
        samples = raw_window_samples(frames, length, stride)
        assert raw(torch.zeros(1, samples)).shape[-1] == frames, (length, stride)


def test_backbone_output_length_is_what_the_network_leaves(params, window_pairs):
    window, pairs = window_pairs
    sizes = ModelSizes.from_params(params)
    for length, stride in pairs:
        frames = frames_per_window(window, length, stride)
        backbone = Backbone(1, frames, 1, sizes)
        steps = backbone.features[:-1](torch.zeros(1, 1, frames)).shape[-1]
        assert steps == backbone_output_length(frames, params["model"]) >= 1, (length, stride)


def test_grid_of_every_table(params):
    names = [v.name for v in all_variants(params)]
    assert len(names) == len(set(names)) == 18
    for expected in ("raw_1024_1024_logx2", "raw_1024_1024_l2pool4", "raw_256_256_melinit"):
        assert expected in names
    assert [v.name for v in table2_variants(params)][0] == "raw_1024_1024", "shared with Table 1"
    assert [v.name for v in table4_variants(params)][:3] == [
        "spectrogram_256_256",
        "raw_256_256",
        "raw_256_256_melinit",
    ]
    assert params["experiments"]["seeds"] and len(params["experiments"]["seeds"]) >= 3


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (
            lambda p: p["experiments"]["table3"]["poolings"].append({"type": "l2", "size": 3}),
            "poolings[5].size",
        ),
        (
            lambda p: p["experiments"]["table3"]["poolings"].append({"type": "none", "size": 2}),
            "poolings[5]",
        ),
        (lambda p: p["experiments"].update(seeds=[]), "experiments.seeds"),
        (lambda p: p["experiments"]["table2"].update(nonlinearities=["tanh"]), "nonlinearities"),
        (lambda p: p["experiments"]["table4"]["pairs"][0].update(stride=4096), "table4.pairs[0]"),
    ],
)
def test_bad_grid_values_name_their_key(params, edit, key):
    bad = copy.deepcopy(params)
    edit(bad)
    with pytest.raises(ParamsError, match=key.replace("[", r"\[").replace("]", r"\]")):
        validate_params(bad)


def test_unknown_variant_lists_valid_names(params):
    with pytest.raises(ParamsError, match="raw_256_256"):
        find_variant(params, "raw_1_1")
