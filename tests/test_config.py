import copy

import pytest

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
)
from tests.conftest import REPO


@pytest.fixture()
def params():
    return load_params(REPO / "params.yaml")


def test_repository_params_are_valid(params):
    names = [v.name for v in table1_variants(params)]
    assert len(names) == 10 and "raw_256_256" in names and "spectrogram_1024_512" in names
    assert mel_pairs(params) == [(256, 256), (512, 256), (512, 512), (1024, 512), (1024, 1024)]


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


def test_every_pair_survives_the_backbone_with_ceil_pooling(params):
    frames = frames_per_window(48000, 1024, 1024)
    assert frames == 46
    assert backbone_output_length(frames, params["model"]) == 1
    # floor rounding (what PyTorch does by default) would leave nothing: (46-7)//4=9, 9-7=2, 2//4=0
    assert ((frames - 7) // 4 - 7) // 4 == 0


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
