"""Values that used to pass validation and fail later are stopped up front, naming key and fix."""

import copy
import re

import pytest
import yaml

from pipeline.config import (
    ParamsError,
    backbone_output_length,
    load_params,
    merge_params,
    min_backbone_frames,
    validate_params,
)
from pipeline.constants import MIN_N_FFT_FULL_MEL
from pipeline.features.mel import mel_filterbank
from tests.conftest import REPO


@pytest.fixture(scope="module")
def repo_params():
    return load_params(REPO / "params.yaml")


@pytest.fixture()
def params(repo_params):
    return copy.deepcopy(repo_params)


def empty_mel_bands(n_fft: int) -> int:
    return int((mel_filterbank(n_fft).max(axis=1) == 0).sum())


def test_min_n_fft_constant_is_the_smallest_fft_without_an_empty_mel_band():
    assert empty_mel_bands(MIN_N_FFT_FULL_MEL) == 0
    assert empty_mel_bands(MIN_N_FFT_FULL_MEL - 1) > 0
    assert empty_mel_bands(256) == 13  # the paper's shortest frames, unpadded
    assert all(empty_mel_bands(n) == 0 for n in (MIN_N_FFT_FULL_MEL + 1, 512, 1024, 2048))


@pytest.mark.parametrize("min_n_fft", [1, 256, MIN_N_FFT_FULL_MEL - 1])
def test_min_n_fft_that_leaves_mel_bands_empty_is_refused(params, min_n_fft):
    params["audio"]["min_n_fft"] = min_n_fft
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        f"params.yaml: key 'audio.min_n_fft': {min_n_fft} leaves some of the mel bands empty; "
        f"use at least {MIN_N_FFT_FULL_MEL} (e.g. the default 1024)"
    )


def test_smallest_min_n_fft_is_accepted(params):
    params["audio"]["min_n_fft"] = MIN_N_FFT_FULL_MEL
    validate_params(params)


def test_one_clip_per_part_is_refused_for_the_validation_auc(params):
    params["synth"]["clips_per_part"] = 1
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    message = str(raised.value)
    assert message.startswith("params.yaml: key 'synth.clips_per_part': 1 is less than")
    assert "validation AUC" in message and message.endswith("use at least 2")


def test_two_clips_per_part_are_accepted(params):
    params["synth"]["clips_per_part"] = 2
    validate_params(params)


@pytest.mark.parametrize("noise", [1, 1.0, 1.5])
def test_label_noise_of_one_or_more_is_refused(params, noise):
    params["synth"]["label_noise"] = noise
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    message = str(raised.value)
    assert message.startswith("params.yaml: key 'synth.label_noise': ")
    assert message.endswith("use a value below 1")


def test_label_noise_just_below_one_is_accepted(params):
    params["synth"]["label_noise"] = 0.99
    validate_params(params)


def test_duplicated_table1_pair_is_refused_naming_it(params):
    table1 = params["experiments"]["table1"]
    table1.append(dict(reversed(list(table1[1].items()))))  # same pair, other key order
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        f"params.yaml: key 'experiments.table1': item {len(table1) - 1} repeats item 1 "
        f"({table1[-1]}): each (length, stride) pair is one row of Table 1; remove the "
        "repeated one"
    )


def test_other_repeated_lists_name_the_repeat_without_a_fix(params):
    params["experiments"]["seeds"] = [1, 2, 1]
    with pytest.raises(ParamsError, match=r"^params.yaml: key 'experiments.seeds': item 2 "):
        validate_params(params)


def test_repository_and_tiny_grid_params_pass(repo_params):
    validate_params(repo_params)
    tiny = yaml.safe_load((REPO / "tests" / "tiny_grid.yaml").read_text())
    validate_params(merge_params(repo_params, tiny))


def integer_leaves(value, path=()):
    """The dotted key (list indices as numbers, as errors name them) of every int in params."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from integer_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from integer_leaves(item, (*path, index))
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path


def _at(params, path):
    for part in path:
        params = params[part]
    return params


def set_at(params, path, value):
    target = params
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def test_every_integer_of_the_repository_params_is_refused_as_a_float(repo_params):
    """Every int of params.yaml (seeds, pairs, poolings, profiles, resources...), one at a time."""
    paths = list(integer_leaves(repo_params))
    assert len(paths) > 40 and ("experiments", "seeds", 0) in paths
    assert ("resources", "train", "gpu") in paths and ("model", "conv_filters") in paths
    for path in paths:
        params = copy.deepcopy(repo_params)
        value = float(_at(params, path))
        set_at(params, path, value)
        key = ".".join(map(str, path))
        with pytest.raises(ParamsError) as raised:
            validate_params(params)
        assert str(raised.value) == (
            f"params.yaml: key '{key}': {value} is a float; write it as an integer ({int(value)})"
        ), key


def test_an_integral_float_for_an_integer_key_is_refused_with_the_fix(params):
    params["model"]["conv_filters"] = 32.0
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        "params.yaml: key 'model.conv_filters': 32.0 is a float; write it as an integer (32)"
    )


def test_float_seeds_are_refused_naming_the_first(params):
    params["experiments"]["seeds"] = [1.0, 2.0]
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        "params.yaml: key 'experiments.seeds.0': 1.0 is a float; write it as an integer (1) "
        "(and 1 more problem(s))"
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("model", "conv_filters"), True),
        (("experiments", "seeds", 1), False),
        (("model", "conv_filters"), 32.5),
        (("experiments", "table1", 0, "stride"), 1024.5),
    ],
)
def test_bools_and_fractions_are_not_integers(params, path, value):
    set_at(params, path, value)
    key = ".".join(map(str, path))
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == f"params.yaml: key '{key}': {value} is not of type 'integer'"


def test_number_keys_still_take_integers(params):
    params["audio"]["window_seconds"] = 3
    params["training"]["profiles"]["quick"]["momentum"] = 1
    validate_params(params)


def test_duplicated_table3_pooling_is_refused_naming_it(params):
    poolings = params["experiments"]["table3"]["poolings"]
    poolings.append({"size": 1, "type": "none"})  # poolings[0], other key order
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        f"params.yaml: key 'experiments.table3.poolings': item {len(poolings) - 1} repeats "
        f"item 0 ({poolings[-1]}): each pooling is one row of Table 3; remove the repeated one"
    )


def test_duplicated_table4_pair_is_refused_naming_it(params):
    pairs = params["experiments"]["table4"]["pairs"]
    pairs.append(dict(reversed(list(pairs[1].items()))))
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        f"params.yaml: key 'experiments.table4.pairs': item {len(pairs) - 1} repeats item 1 "
        f"({pairs[-1]}): each (length, stride) pair is one group of rows of Table 4; remove "
        "the repeated one"
    )


def test_poolings_of_one_type_and_other_sizes_are_not_repeats(params):
    params["experiments"]["table3"]["poolings"].append({"type": "l2", "size": 8})
    validate_params(params)


@pytest.mark.parametrize(("conv_length", "pool_size"), [(1, 1), (1, 4), (3, 2), (8, 4), (40, 4)])
def test_min_backbone_frames_is_the_fewest_frames_the_blocks_take(conv_length, pool_size):
    model = {"conv_length": conv_length, "pool_size": pool_size}
    fewest = min_backbone_frames(model)
    assert backbone_output_length(fewest, model) >= 1
    if fewest > 1:
        with pytest.raises(ValueError):
            backbone_output_length(fewest - 1, model)


def key_named(params) -> str:
    """The key a ParamsError names (``params.yaml: key 'KEY': ...``)."""
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    match = re.match(r"params\.yaml: key '([^']+)': ", str(raised.value))
    assert match, str(raised.value)
    return match.group(1)


def test_a_window_shorter_than_every_frame_blames_the_window(params):
    params["audio"]["window_seconds"] = 0.01
    assert key_named(params) == "audio.window_seconds"
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        "params.yaml: key 'audio.window_seconds': 0.01 s (160 samples) is shorter than a "
        "frame of 'experiments.table1[0]' (length 1024) and gives no pair the 36 frames the "
        "conv blocks need; use an audio.window_seconds of at least 2.31"
    )


def test_the_window_it_asks_for_is_enough(params):
    params["audio"]["window_seconds"] = 0.01
    key_named(params)
    params["audio"]["window_seconds"] = 2.31
    validate_params(params)
    params["audio"]["window_seconds"] = 2.30  # the 1024/1024 pairs then get 35 frames
    assert key_named(params) == "experiments.table1[0]"


def test_a_window_shorter_than_some_frames_and_too_short_for_the_rest_blames_the_window(params):
    params["audio"]["window_seconds"] = 0.05  # 800 samples: 3 frames of 256/256 at most
    assert key_named(params) == "audio.window_seconds"


def test_a_long_conv_filter_blames_conv_length_naming_the_closest_pair(params):
    params["model"]["conv_length"] = 40
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        "params.yaml: key 'model.conv_length': the conv blocks (conv_length 40, pool_size 4) "
        "need 196 frames per window, more than any pair gets from 3.0 s of audio (e.g. "
        "'experiments.table1[0]' gets 46; 'experiments.table1[4]' gets the most, 187); use a "
        "smaller model.conv_length or model.pool_size, or an audio.window_seconds of at least "
        "12.55"
    )


def test_a_conv_filter_longer_than_every_pairs_frames_blames_conv_length(params):
    params["model"].update(conv_length=200, pool_size=100)  # block 1 fails: no pool_size helps
    assert key_named(params) == "model.conv_length"


def test_a_wide_pool_blames_pool_size(params):
    params["model"]["pool_size"] = 30  # needs 218 frames; 256/256 gives 187
    assert key_named(params) == "model.pool_size"


def test_a_short_window_with_frames_too_few_for_the_blocks_names_the_blocks_and_the_pair(params):
    params["audio"]["window_seconds"] = 0.5  # every frame fits; at most 31 of the 36 needed
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    message = str(raised.value)
    assert message.startswith("params.yaml: key 'model.conv_length': ")
    assert "'experiments.table1[0]' gets 7" in message
    assert message.endswith("or an audio.window_seconds of at least 2.31")


def test_one_pair_with_too_few_frames_is_blamed_itself(params):
    params["experiments"]["table1"].append({"length": 16000, "stride": 16000})
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        "params.yaml: key 'experiments.table1[5]': only 3 frames per window: too few for conv "
        "block 1 (filter length 8); use a longer window or smaller stride"
    )


def test_one_pair_with_frames_longer_than_the_window_is_blamed_itself(params):
    params["model"].update(conv_length=2, pool_size=1)  # 3 frames suffice
    params["audio"]["window_seconds"] = 0.5
    params["experiments"]["table4"]["pairs"].append({"length": 16000, "stride": 16000})
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    assert str(raised.value) == (
        "params.yaml: key 'experiments.table4.pairs[2]': the window (8000 samples) is shorter "
        "than a frame (16000)"
    )


def test_too_few_permutations_for_the_pool_threshold_are_refused(params):
    params["claims"].update(pool_permutations=99, pool_p_value=0.01)
    with pytest.raises(ParamsError, match=r"'claims.pool_permutations'.*use at least 100"):
        validate_params(params)
    params["claims"]["pool_permutations"] = 100
    validate_params(params)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alpha", 1.5),
        ("selective_share", -0.1),
        ("octave_min_filters", 0),
        ("phase_spread_degrees", 200),
    ],
)
def test_claims_thresholds_out_of_range_are_refused_naming_the_key(params, key, value):
    params["claims"][key] = value
    with pytest.raises(ParamsError, match=rf"key 'claims.{key}'"):
        validate_params(params)
