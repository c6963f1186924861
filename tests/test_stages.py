"""The paper's protocol where the pipeline wires it: the functions of :mod:`pipeline.stages`
that both drivers call (Snakemake's scripts, ``python -m pipeline STEP``), run on a tiny
project from split.csv on.

Training validates on the validation part (c) and nothing else, evaluation scores the test
part (d-f) and nothing else and says so in its metrics, and the parameter count the metrics
report is the network's, counted by hand from Figure 1's layer sizes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import torch

from pipeline import stages
from pipeline.config import Variant, load_params
from pipeline.paths import Paths
from pipeline.settings import ModelSizes
from pipeline.training.batches import WindowSource
from pipeline.training.networks import build_variant_model
from tests.conftest import REPO
from tests.stage_data import (
    LENGTH,
    STRIDE,
    TINY_MODEL,
    part_clip_ids,
    stage_params,
    write_split_and_audio,
)

VARIANTS = [Variant("raw", LENGTH, STRIDE), Variant("spectrogram", LENGTH, STRIDE)]
STEPS = (stages.train, stages.evaluate)


class PredictedWindows:
    """Records the windows cut for prediction while installed: every
    :meth:`WindowSource.gather` but those of training's random draws, as (clip id, start)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.windows: Counter[tuple[int, int]] = Counter()
        self._drawing = False
        gather, random_batch = WindowSource.gather, WindowSource.random_batch

        def recording_gather(source: WindowSource, clip_rows, starts):
            if not self._drawing:
                clip_ids = source.index["clip_id"].to_numpy()[clip_rows]
                self.windows.update(zip(clip_ids.tolist(), starts.tolist(), strict=True))
            return gather(source, clip_rows, starts)

        def drawing(source: WindowSource, *args, **kwargs):
            self._drawing = True
            try:
                return random_batch(source, *args, **kwargs)
            finally:
                self._drawing = False

        monkeypatch.setattr(WindowSource, "gather", recording_gather)
        monkeypatch.setattr(WindowSource, "random_batch", drawing)

    def take(self) -> Counter[tuple[int, int]]:
        """The windows recorded since the last take."""
        taken, self.windows = self.windows, Counter()
        return taken


@dataclass
class StageRun:
    """What the steps read and wrote, and the windows each (variant, step) predicted."""

    params: dict[str, Any]
    split: pd.DataFrame
    windows: pd.DataFrame
    predicted: dict[tuple[str, str], Counter[tuple[int, int]]]
    metrics: dict[str, dict[str, Any]]
    per_tag: dict[str, pd.DataFrame]
    histories: dict[str, pd.DataFrame]  # seed 1's


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory: pytest.TempPathFactory) -> StageRun:
    """decode_audio, windows, mel_cache, then train and evaluate of a raw-audio and a
    spectrogram variant, each through pipeline.stages in a fresh working directory."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path_factory.mktemp("stages"))
        params = stage_params()
        paths = Paths.of(params)
        split = write_split_and_audio(params)
        stages.decode_audio(params)
        stages.windows(params, LENGTH, STRIDE)
        stages.mel_cache(params, LENGTH, STRIDE)
        spy = PredictedWindows(monkeypatch)
        predicted = {}
        for variant in VARIANTS:
            for step in STEPS:
                step(params, variant.name)
                predicted[variant.name, step.__name__] = spy.take()
        return StageRun(
            params,
            split,
            pd.read_csv(paths.windows(LENGTH, STRIDE)),
            predicted,
            {v.name: json.loads(paths.metrics(v.name).read_text()) for v in VARIANTS},
            {v.name: pd.read_csv(paths.per_tag(v.name)) for v in VARIANTS},
            {v.name: pd.read_csv(paths.model_dir(v.name, 1) / "history.csv") for v in VARIANTS},
        )


def _windows_of(run: StageRun, variant: Variant, parts: str) -> set[tuple[int, int]]:
    """(clip id, start) of every evaluation window of the clips of some parts, the start in
    the unit the variant's cache is read in (frames or samples)."""
    column = "start_frame" if variant.front_end == "spectrogram" else "start_sample"
    mine = run.windows[run.windows["clip_id"].isin(part_clip_ids(run.split, parts))]
    return set(zip(mine["clip_id"].tolist(), mine[column].tolist(), strict=True))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_validation_predicts_the_validation_part_and_nothing_else(stage_run, variant):
    """Every window training predicts is one of part c's, and all of them are predicted
    equally often, at least once per validation."""
    predicted = stage_run.predicted[variant.name, "train"]
    assert set(predicted) == _windows_of(stage_run, variant, "c")
    profile = stage_run.params["training"]["profiles"]["quick"]
    validations = profile["updates"] // profile["validate_every"]
    [times] = set(predicted.values())
    assert times % validations == 0 and times >= validations
    history = stage_run.histories[variant.name]
    every = profile["validate_every"]
    assert history["update"].tolist() == list(range(every, profile["updates"] + 1, every))
    assert history["valid_auc"].notna().all()


def _digest(clip_ids: set[int]) -> str:
    """The clip ids' digest as evaluate's metrics define it, recomputed here by hand."""
    text = "".join(f"{clip}\n" for clip in sorted(clip_ids))
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_evaluation_scores_the_test_part_and_nothing_else(stage_run, variant):
    test_ids = part_clip_ids(stage_run.split, "def")
    seeds = stage_run.params["experiments"]["seeds"]
    predicted = stage_run.predicted[variant.name, "evaluate"]
    assert set(predicted) == _windows_of(stage_run, variant, "def")
    assert set(predicted.values()) == {len(seeds)}  # each window once per seed
    metrics = stage_run.metrics[variant.name]
    assert metrics["split"] == "test"
    assert metrics["clips"] == len(test_ids)
    assert metrics["clip_ids_sha256"] == _digest(test_ids)
    assert metrics["clip_ids_sha256"] != _digest(part_clip_ids(stage_run.split, "c"))
    assert set(metrics["seeds"]) == {str(seed) for seed in seeds}
    test_rows = stage_run.split[stage_run.split["clip_id"].isin(test_ids)]
    per_tag = stage_run.per_tag[variant.name].set_index("tag")
    for tag in ("tone", "coin"):
        assert per_tag.loc[tag, "positives"] == test_rows[tag].sum(), tag
        assert per_tag.loc[tag, "negatives"] == (1 - test_rows[tag]).sum(), tag


def _parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def test_figure1_networks_have_the_parameter_counts_counted_by_hand():
    """Figure 1's sizes (params.yaml's model), 50 tags, 3 s windows (48,000 samples)."""
    sizes = ModelSizes.from_params(load_params(REPO / "params.yaml"))
    assert sizes.to_dict() == {"raw_filters": 128, "conv_filters": 32, "conv_length": 8,
                               "pool_size": 4, "dense_units": 100}  # fmt: skip
    # 1024/1024: 1 + (48000 - 1024) // 1024 = 46 frames.
    # Time steps: 46 -> conv 8: 39 -> pool 4 (rounding up): 10 -> conv 8: 3 -> pool 4: 1.
    strided = 128 * 1 * 1024 + 128  # 128 filters of 1 channel x 1024 samples, + biases
    conv1_raw = 32 * 128 * 8 + 32  # 32 filters over the 128 strided-layer channels
    conv1_mel = 32 * 128 * 8 + 32  # 32 filters over the 128 mel bands
    conv2 = 32 * 32 * 8 + 32
    dense = (32 * 1) * 100 + 100  # 32 channels x 1 time step, flattened
    output = 100 * 50 + 50
    raw = build_variant_model(Variant("raw", 1024, 1024), 46, 50, sizes)
    spectrogram = build_variant_model(Variant("spectrogram", 1024, 1024), 46, 50, sizes)
    assert _parameters(raw) == strided + conv1_raw + conv2 + dense + output == 180_574
    assert _parameters(spectrogram) == conv1_mel + conv2 + dense + output == 49_374
    # 256/256: 1 + (48000 - 256) // 256 = 187 frames: 187 -> 180 -> 45 -> 38 -> 10 steps.
    strided = 128 * 1 * 256 + 128
    dense = (32 * 10) * 100 + 100
    raw = build_variant_model(Variant("raw", 256, 256), 187, 50, sizes)
    assert _parameters(raw) == strided + conv1_raw + conv2 + dense + output == 111_070
    # L2 pooling of 4 (Table 3): the strided layer's 128 outputs pooled to 32 channels.
    pooled = Variant("raw", 1024, 1024, pooling="l2", pool_size=4)
    conv1_pooled = 32 * (128 // 4) * 8 + 32
    dense = (32 * 1) * 100 + 100
    total = 128 * 1 * 1024 + 128 + conv1_pooled + conv2 + dense + output
    assert _parameters(build_variant_model(pooled, 46, 50, sizes)) == total == 155_998


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_the_metrics_report_the_networks_parameter_count(stage_run, variant):
    """The tiny network (tests/stage_data.py): 4096-sample windows are 16 frames of 256,
    two tags. Time steps: 16 -> conv 3: 14 -> pool 2: 7 -> conv 3: 5 -> pool 2: 3."""
    filters, channels = TINY_MODEL["raw_filters"], TINY_MODEL["conv_filters"]
    width, dense_units = TINY_MODEL["conv_length"], TINY_MODEL["dense_units"]
    assert (filters, channels, width, dense_units) == (16, 8, 3, 16)
    front = {"raw": filters * 1 * LENGTH + filters, "spectrogram": 0}[variant.front_end]
    inputs = {"raw": filters, "spectrogram": 128}[variant.front_end]  # 128 mel bands
    conv1 = channels * inputs * width + channels
    conv2 = channels * channels * width + channels
    dense = (channels * 3) * dense_units + dense_units
    output = dense_units * 2 + 2
    by_hand = front + conv1 + conv2 + dense + output
    assert stage_run.metrics[variant.name]["parameters"] == by_hand
