"""Train one variant: minibatch SGD on binary cross-entropy, validating at regular intervals.

The parameters with the best clip-level validation AUC are kept (paper, section 4.1).
A checkpoint is written at every validation, so an interrupted run resumes where it stopped
instead of starting over; it is only reused when it was made from the same inputs (settings,
data, labels and training code).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pipeline import atomic
from pipeline.code_deps import PACKAGE_DIR, code_files
from pipeline.config import Variant, canonical_json
from pipeline.determinism import configure_torch
from pipeline.metrics import mean_auc, per_tag_auc
from pipeline.settings import AudioSettings, EvaluationSettings, ModelSizes, TrainingSettings
from pipeline.training.batches import WindowSource, load_window_source
from pipeline.training.checkpoint import (
    TrainingState,
    resume_from_checkpoint,
    save_checkpoint,
)
from pipeline.training.networks import (
    build_variant_model,
    network_config,
    save_trained,
    select_device,
)
from pipeline.training.predict import clip_predictions

HISTORY_COLUMNS = ["update", "train_loss", "valid_auc", "best", "elapsed_s"]


@dataclass(frozen=True)
class TrainingJob:
    """One network to train: a variant, a seed and the settings that shape its training."""

    variant: Variant
    seed: int
    dataset: str
    training: TrainingSettings
    model: ModelSizes
    audio: AudioSettings
    evaluation: EvaluationSettings


@dataclass
class TrainingRun:
    """A job set up to train: the network, its optimiser, the batch generator and the data."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    source: WindowSource
    windows: pd.DataFrame
    train_rows: np.ndarray
    device: torch.device
    config: dict[str, Any]


def model_config(job: TrainingJob, frames: int, tags: list[str]) -> dict[str, Any]:
    """Everything needed to rebuild and use the network without params.yaml (config.json)."""
    return {
        **network_config(job.variant, frames, tags, job.model, job.audio.min_n_fft),
        "training": job.training.profile.to_config(job.seed),
        "dataset": job.dataset,
        "numerics": job.training.numerics,
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    return _sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def _array_digest(array: np.ndarray) -> str:
    """A cache on disk by its file's size and modification time, not its bytes: reading
    MagnaTagATune's ~19 GB of audio at every start would cost minutes. Conservative: a
    rebuilt cache discards a checkpoint even when its bytes came out the same. An array in
    memory (tests) by its bytes."""
    if isinstance(array, np.memmap) and array.filename is not None:
        stat = Path(array.filename).stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    return _sha256(np.ascontiguousarray(array).tobytes())


def _code_digest() -> str:
    """The bytes of every pipeline module training imports (its code dependencies)."""
    digest = hashlib.sha256()
    for path in code_files("pipeline.training.loop"):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(_sha256(path.read_bytes()).encode())
    return digest.hexdigest()


def _resume_key(job: TrainingJob, run: TrainingRun) -> str:
    """What a checkpoint must have been made from to be resumed: the same inputs of training.

    Covers the settings (config.json's content: variant, model sizes, profile, seed, tags and
    numerics; the device and thread count), the data (the cache index, the cache file, the
    labels and the validation windows) and the training code, so a rerun after any of them
    changed starts over instead of finishing one model with updates of two runs.
    """
    parts = {
        "config": _sha256(canonical_json(run.config).encode()),
        "device": str(run.device),
        "threads": job.training.threads,
        "index": _frame_digest(run.source.index),
        "data": _array_digest(run.source.array),
        "labels": _sha256(np.ascontiguousarray(run.source.labels).tobytes()),
        "windows": _frame_digest(run.windows),
        "code": _code_digest(),
    }
    return _sha256(canonical_json(parts).encode())


def _require_defined_validation_auc(
    variant: Variant, source: WindowSource, windows: pd.DataFrame
) -> None:
    """Refuse up front a validation part in which no tag has both a positive and a negative
    clip: its AUC would be undefined and no parameters could ever be kept as the best."""
    valid_ids = windows.loc[windows["split"] == "valid", "clip_id"].unique()
    valid_labels = source.labels[source.index["clip_id"].isin(valid_ids).to_numpy()]
    if not (valid_labels.min(axis=0) < valid_labels.max(axis=0)).any():
        raise RuntimeError(
            f"{variant.name}: the validation AUC is undefined: none of the {len(source.tags)} "
            f"tags has both a positive and a negative clip among the {len(valid_labels)} usable "
            "validation clip(s) (part 'c'); the validation part needs more clips with varied "
            "tags (dataset synth: raise synth.clips_per_part; see skipped.csv for clips left out)"
        )


def _setup(
    job: TrainingJob,
    split_path: Path,
    audio_stem: Path,
    mel_stem: Path | None,
    windows_path: Path,
) -> TrainingRun:
    """Seed everything, open the data and build the network and optimiser (in this order:
    building the network draws from the seeded torch generator)."""
    variant, profile = job.variant, job.training.profile
    configure_torch(job.training.numerics, job.training.threads, job.seed)
    device = select_device(job.training.device, "training.device")
    frames = job.audio.frames(variant.length, variant.stride)
    source = load_window_source(variant, split_path, audio_stem, mel_stem, frames)
    windows = pd.read_csv(windows_path)
    train_rows = source.rows_of("train")
    if len(train_rows) == 0:
        raise RuntimeError(f"{variant.name}: no usable training clips (see skipped.csv)")
    if not (windows["split"] == "valid").any():
        raise RuntimeError(f"{variant.name}: no usable validation clips (see skipped.csv)")
    _require_defined_validation_auc(variant, source, windows)

    config = model_config(job, frames, source.tags)
    model = build_variant_model(variant, frames, len(source.tags), job.model).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=profile.learning_rate, momentum=profile.momentum
    )
    rng = np.random.default_rng(job.seed)
    return TrainingRun(model, optimizer, rng, source, windows, train_rows, device, config)


def _train_loop(
    job: TrainingJob,
    run: TrainingRun,
    state: TrainingState,
    checkpoint_path: Path,
    key: str,
    progress: bool,
) -> None:
    """SGD from ``state.update`` to the profile's last update, validating (and writing a
    checkpoint) every ``validate_every`` updates and after the last one."""
    profile, model, source = job.training.profile, run.model, run.source
    loss_function = torch.nn.BCEWithLogitsLoss()
    elapsed_before = state.elapsed_s
    started = time.perf_counter()
    running_loss, running_count = 0.0, 0
    bar = tqdm(
        total=profile.updates,
        initial=state.update,
        desc=f"{job.variant.name} seed {job.seed}",
        unit="upd",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
    )
    model.train()
    for update in range(state.update + 1, profile.updates + 1):
        inputs, targets = source.random_batch(run.rng, run.train_rows, profile.batch_size)
        inputs = torch.from_numpy(inputs).to(run.device)
        targets = torch.from_numpy(targets).to(run.device)
        run.optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(inputs), targets)
        loss.backward()
        run.optimizer.step()
        running_loss += float(loss.detach())
        running_count += 1
        bar.update()
        if update % profile.validate_every == 0 or update == profile.updates:
            _, scores, labels = clip_predictions(
                model, source, run.windows, "valid", job.evaluation.batch_size, run.device
            )
            model.train()
            valid_auc = mean_auc(per_tag_auc(labels, scores, source.tags))
            improved = bool(valid_auc > state.best_auc)
            if improved:
                state.best_auc = float(valid_auc)
                state.best_state = copy.deepcopy(
                    {k: v.cpu() for k, v in model.state_dict().items()}
                )
            state.update = update
            state.history.append(
                {
                    "update": update,
                    "train_loss": running_loss / max(running_count, 1),
                    "valid_auc": valid_auc,
                    "best": improved,
                    "elapsed_s": round(elapsed_before + time.perf_counter() - started, 3),
                }
            )
            running_loss, running_count = 0.0, 0
            bar.set_postfix(
                loss=f"{state.history[-1]['train_loss']:.4f}", valid_auc=f"{valid_auc:.4f}"
            )
            save_checkpoint(checkpoint_path, key, model, run.optimizer, run.rng, state)
    bar.close()


def write_outputs(
    out_dir: Path, config: dict[str, Any], state: TrainingState, device: torch.device
) -> pd.DataFrame:
    """model.pt (the best parameters), config.json, history.csv and timing.json."""
    if state.best_state is None:
        raise RuntimeError("no validation gave a defined AUC; nothing to keep")
    history = state.history
    config["best_valid_auc"] = state.best_auc
    config["best_update"] = int(max(h["update"] for h in history if h["best"]))
    save_trained(out_dir, state.best_state, config)
    frame = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    atomic.write_csv(frame.drop(columns=["elapsed_s"]), out_dir / "history.csv")
    timing = {"elapsed_s": history[-1]["elapsed_s"], "device": str(device)}
    atomic.write_text(out_dir / "timing.json", json.dumps(timing) + "\n")
    return frame


def train_variant(
    job: TrainingJob,
    split_path: Path,
    audio_stem: Path,
    mel_stem: Path | None,
    windows_path: Path,
    out_dir: Path,
    progress: bool = True,
) -> pd.DataFrame:
    """Train a variant and write model.pt (best parameters), config.json and history.csv."""
    run = _setup(job, split_path, audio_stem, mel_stem, windows_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / "checkpoint.pt"
    key = _resume_key(job, run)
    name = f"{job.variant.name} seed {job.seed}"
    state = (
        resume_from_checkpoint(checkpoint_path, key, run.model, run.optimizer, run.rng, name)
        or TrainingState()
    )
    _train_loop(job, run, state, checkpoint_path, key, progress)
    frame = write_outputs(out_dir, run.config, state, run.device)
    checkpoint_path.unlink(missing_ok=True)
    return frame
