"""Values that used to pass validation and fail later are stopped up front, naming key and fix."""

import copy

import pytest
import yaml

from pipeline.config import ParamsError, load_params, merge_params, validate_params
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
