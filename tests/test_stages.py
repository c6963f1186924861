"""The paper's protocol where the pipeline wires it: the functions of :mod:`pipeline.stages`
that both drivers call (Snakemake's scripts, ``python -m pipeline STEP``), run on a tiny
project from split.csv on.

Training validates on the validation part (c) and nothing else, evaluation scores the test
part (d-f) and nothing else and says so in its metrics, and the parameter count the metrics
report is the network's, counted by hand from Figure 1's layer sizes.

Each seed's outputs are its own: its model folder holds what training that seed alone gives,
its metrics are its own model's scores (recomputed here with scikit-learn), and every number
of the four tables follows from those per-seed, per-tag AUCs (recomputed here with numpy and
scipy, paired as the paper's design pairs them: same seed, same tag). The seeds give
different models and metrics, so handing one seed another's files shows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from pipeline import stages
from pipeline.config import Variant, load_params
from pipeline.paths import Paths
from pipeline.settings import ModelSizes, Settings
from pipeline.training.batches import WindowSource, load_window_source
from pipeline.training.loop import TrainingJob, train_variant
from pipeline.training.networks import build_variant_model, load_trained
from pipeline.training.predict import clip_predictions
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
TABLES = ("table1", "table2", "table3", "table4")


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

    root: Path  # the working directory the steps ran in (every path of Paths is under it)
    params: dict[str, Any]
    split: pd.DataFrame
    windows: pd.DataFrame
    predicted: dict[tuple[str, str], Counter[tuple[int, int]]]
    metrics: dict[str, dict[str, Any]]
    per_tag: dict[str, pd.DataFrame]
    histories: dict[str, pd.DataFrame]  # seed 1's
    tables: dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory: pytest.TempPathFactory) -> StageRun:
    """decode_audio, windows, mel_cache, then train and evaluate of a raw-audio and a
    spectrogram variant, and the four tables (every one of them made of these two variants),
    each through pipeline.stages in a fresh working directory."""
    root = tmp_path_factory.mktemp("stages")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
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
        for name in TABLES:
            stages.table(params, name)
        return StageRun(
            root,
            params,
            split,
            pd.read_csv(paths.windows(LENGTH, STRIDE)),
            predicted,
            {v.name: json.loads(paths.metrics(v.name).read_text()) for v in VARIANTS},
            {v.name: pd.read_csv(paths.per_tag(v.name)) for v in VARIANTS},
            {v.name: pd.read_csv(paths.model_dir(v.name, 1) / "history.csv") for v in VARIANTS},
            {name: pd.read_csv(paths.table(name)) for name in TABLES},
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


# --- each seed's outputs are its own, and every table number follows from them ----------------


def _seeds(run: StageRun) -> list[int]:
    return list(run.params["experiments"]["seeds"])


def _mel_stem(run: StageRun, variant: Variant) -> Path | None:
    paths = Paths.of(run.params)
    if variant.front_end != "spectrogram":
        return None
    return run.root / paths.mel_stem(variant.length, variant.stride)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_each_seed_folder_holds_that_seed_trained_alone(stage_run, variant, tmp_path):
    """models/<dataset>/<variant>/seed<k>/ is, byte for byte, what a job training seed k
    alone writes (the looped engine's promise), and the seeds' models differ: a job that
    wrote one seed's model into another seed's folder fails here."""
    run, paths = stage_run, Paths.of(stage_run.params)
    settings = Settings.from_params(run.params)
    weights = {}
    for seed in _seeds(run):
        job = TrainingJob(
            variant,
            (seed,),
            settings.dataset,
            settings.training,
            settings.model,
            settings.audio,
            settings.evaluation,
        )
        alone = tmp_path / f"alone{seed}"
        train_variant(
            job,
            run.root / paths.split,
            run.root / paths.audio_stem,
            _mel_stem(run, variant),
            run.root / paths.windows(variant.length, variant.stride),
            alone,
            progress=False,
        )
        folder = run.root / paths.model_dir(variant.name, seed)
        assert json.loads((folder / "config.json").read_text())["training"]["seed"] == seed
        for name in ("model.pt", "config.json", "history.csv"):
            alone_bytes = (alone / f"seed{seed}" / name).read_bytes()
            assert (folder / name).read_bytes() == alone_bytes, f"seed {seed}: {name}"
        weights[seed] = (folder / "model.pt").read_bytes()
    assert len(set(weights.values())) == len(weights), "the seeds trained the same model"


def _recomputed_per_tag(run: StageRun, variant: Variant) -> dict[int, pd.DataFrame]:
    """Each seed's test ROC-AUC and PR-AUC per tag, from that seed's model folder: its clip
    scores (mean of its windows' predictions) scored by scikit-learn."""
    paths = Paths.of(run.params)
    windows = pd.read_csv(run.root / paths.windows(variant.length, variant.stride))
    recomputed = {}
    for seed in _seeds(run):
        model, config = load_trained(run.root / paths.model_dir(variant.name, seed))
        source = load_window_source(
            variant,
            run.root / paths.split,
            run.root / paths.audio_stem,
            _mel_stem(run, variant),
            config["window_frames"],
        )
        _, scores, labels = clip_predictions(
            model, source, windows, "test", 16, torch.device("cpu")
        )
        rows = []
        for column, tag in enumerate(source.tags):
            truth, score = labels[:, column], scores[:, column]
            assert 0 < truth.sum() < len(truth), f"{tag}: every tag has both classes here"
            auc, pr_auc = roc_auc_score(truth, score), average_precision_score(truth, score)
            rows.append({"tag": tag, "auc": auc, "pr_auc": pr_auc})
        recomputed[seed] = pd.DataFrame(rows).set_index("tag")
    return recomputed


@pytest.fixture(scope="module")
def recomputed(stage_run) -> dict[str, dict[int, pd.DataFrame]]:
    return {variant.name: _recomputed_per_tag(stage_run, variant) for variant in VARIANTS}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_each_seeds_metrics_are_its_own_models(stage_run, recomputed, variant):
    """Seed k's per-tag AUCs, its mean AUCs and its best validation AUC are those of the
    model in seed k's folder; and the seeds' metrics differ, so a mix-up would show."""
    paths = Paths.of(stage_run.params)
    metrics = stage_run.metrics[variant.name]
    per_tag = stage_run.per_tag[variant.name].set_index("tag")
    mine = recomputed[variant.name]
    for seed in _seeds(stage_run):
        reported = metrics["seeds"][str(seed)]
        for measure in ("auc", "pr_auc"):
            expected = mine[seed][measure]
            assert per_tag[f"{measure}_seed{seed}"].to_numpy() == pytest.approx(
                expected.loc[per_tag.index].to_numpy(), abs=5e-7
            ), f"seed {seed}: {measure} per tag"
            assert reported[measure] == pytest.approx(expected.mean(), abs=1e-12)
        config = json.loads(
            (stage_run.root / paths.model_dir(variant.name, seed) / "config.json").read_text()
        )
        assert (reported["best_valid_auc"], reported["best_update"]) == (
            config["best_valid_auc"],
            config["best_update"],
        )
    first, second = (mine[seed] for seed in _seeds(stage_run))
    assert not first.equals(second), "the seeds score alike: a mix-up would not show"


def _per_seed(recomputed, variant: Variant, measure: str = "auc") -> np.ndarray:
    """Each seed's mean over tags, in the order of experiments.seeds."""
    return np.array([table[measure].mean() for table in recomputed[variant.name].values()])


def _seed_mean_per_tag(recomputed, variant: Variant) -> pd.Series:
    return sum(table["auc"] for table in recomputed[variant.name].values()) / len(
        recomputed[variant.name]
    )


ROUNDED = 5e-5 + 1e-12  # the tables are written with 4 decimals


def _assert_summary(row: pd.Series, recomputed, variant: Variant, suffix: str = "") -> None:
    for measure in ("auc", "pr_auc"):
        per_seed = _per_seed(recomputed, variant, measure)
        assert row[f"{measure}{suffix}"] == pytest.approx(per_seed.mean(), abs=ROUNDED)
        assert row[f"{measure}{suffix}_std"] == pytest.approx(per_seed.std(ddof=1), abs=ROUNDED)
    assert row["seeds"] == len(per_seed)


def test_every_table_number_follows_from_the_seeds_models(stage_run, recomputed):
    """Every number of reports/table{1,2,3,4}.csv as the ``table`` step wrote them, from the
    per-seed, per-tag AUCs recomputed above; the paper's numbers as its Tables 1-3 print them
    (Tables 2 and 3 print only 1024/1024, so their paper column stands beside any pair)."""
    raw, spectrogram = VARIANTS
    tables = stage_run.tables

    [row1] = [row for _, row in tables["table1"].iterrows()]
    assert (row1["length"], row1["stride"]) == (LENGTH, STRIDE)
    _assert_summary(row1, recomputed, spectrogram, "_spectrogram")
    _assert_summary(row1, recomputed, raw, "_raw")
    assert (row1["paper_auc_spectrogram"], row1["paper_auc_raw"]) == (0.8815, 0.8487)
    x, y = _per_seed(recomputed, spectrogram), _per_seed(recomputed, raw)
    assert row1["p_seeds_ttest"] == pytest.approx(stats.ttest_rel(x, y).pvalue, abs=ROUNDED)
    difference = _seed_mean_per_tag(recomputed, spectrogram) - _seed_mean_per_tag(recomputed, raw)
    assert (difference != 0).all(), "a zero difference would leave a tag out of the test"
    assert row1["p_tags_wilcoxon"] == pytest.approx(stats.wilcoxon(difference).pvalue, abs=ROUNDED)

    [row2] = [row for _, row in tables["table2"].iterrows()]
    assert (row2["nonlinearity"], row2["f(x)"], row2["paper_auc"]) == ("relu", "max(0, x)", 0.8366)
    _assert_summary(row2, recomputed, raw)

    [row3] = [row for _, row in tables["table3"].iterrows()]
    model, _ = load_trained(stage_run.root / Paths.of(stage_run.params).model_dir(raw.name, 1))
    counted = sum(p.numel() for p in model.parameters())
    assert (row3["pooling"], row3["pool_size"], row3["paper_auc"]) == ("none", 1, 0.8366)
    assert (row3["features"], row3["parameters"]) == (TINY_MODEL["raw_filters"], counted)
    _assert_summary(row3, recomputed, raw)

    table4 = tables["table4"]
    assert table4["model"].tolist() == ["spectrogram", "raw, random init"]
    assert table4["paper_auc"].tolist() == [0.8815, 0.8487]
    for (_, row), variant in zip(table4.iterrows(), (spectrogram, raw), strict=True):
        assert (row["length"], row["stride"]) == (LENGTH, STRIDE)
        _assert_summary(row, recomputed, variant)
