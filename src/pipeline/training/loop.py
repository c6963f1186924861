"""Train one variant, every seed of it in one job: minibatch SGD on binary cross-entropy,
validating at regular intervals.

Each seed keeps the parameters of its best clip-level validation AUC (paper, section 4.1) and
writes its own model folder (``<variant>/seed<k>/``), as if it had been trained alone. The
seeds share the job's data, its process and, with the packed engines, its kernel launches
(:mod:`pipeline.training.engines`). A checkpoint is written at every validation, so an
interrupted job resumes where it stopped instead of starting over; it is only reused when it
was made from the same inputs (settings, data, labels and training code).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
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
from pipeline.determinism import configure_torch, cuda_fp32_precision
from pipeline.metrics import mean_roc_auc
from pipeline.settings import AudioSettings, EvaluationSettings, ModelSizes, TrainingSettings
from pipeline.training.batches import WindowSource, load_window_source
from pipeline.training.checkpoint import (
    TrainingState,
    resume_from_checkpoint,
    save_checkpoint,
)
from pipeline.training.device_memory import (
    DevicePlan,
    free_device_memory,
    plan_device_memory,
    resident_bytes,
)
from pipeline.training.engines import (
    LoopedSeeds,
    PackedSeeds,
    build_engine,
    resolve_engine,
    seed_networks,
)
from pipeline.training.graph import GraphedStep
from pipeline.training.networks import (
    build_variant_model,
    network_config,
    save_trained,
    select_device,
    use_device,
)
from pipeline.training.predict import clip_predictions_of_models, split_windows
from pipeline.training.sampling import DeviceSampler, DeviceWindows, HostSampler, ResidentWindows

HISTORY_COLUMNS = ["update", "train_loss", "valid_auc", "best", "elapsed_s"]


@dataclass(frozen=True)
class TrainingJob:
    """One variant to train with every one of its seeds, and the settings that shape training."""

    variant: Variant
    seeds: tuple[int, ...]
    dataset: str
    training: TrainingSettings
    model: ModelSizes
    audio: AudioSettings
    evaluation: EvaluationSettings


@dataclass
class TrainingRun:
    """A job set up to train: the seeds' networks and optimisers (the engine), the batch
    sampler, the data and each seed's config.json."""

    engine: LoopedSeeds | PackedSeeds
    engine_name: str  # looped, packed or graphed
    sampler: HostSampler | DeviceSampler
    source: WindowSource
    windows: pd.DataFrame
    train_rows: np.ndarray
    device: torch.device
    configs: list[dict[str, Any]]
    validation: ResidentWindows | None = None  # the validation windows kept on the device


def model_config(job: TrainingJob, frames: int, tags: list[str], seed: int) -> dict[str, Any]:
    """Everything needed to rebuild and use seed ``seed``'s network without params.yaml
    (config.json), and the numerics it was trained with: the CPU kernels and the float32
    precision of CUDA's products and convolutions as this process runs them (IEEE after
    :func:`configure_torch`)."""
    return {
        **network_config(job.variant, frames, tags, job.model, job.audio.min_n_fft),
        "training": job.training.profile.to_config(seed),
        "dataset": job.dataset,
        "numerics": job.training.numerics,
        "cuda_fp32_precision": cuda_fp32_precision(),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    return _sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def _array_digest(array: np.ndarray) -> str:
    """A cache on disk by its file's size and modification time, not its bytes: reading
    MagnaTagATune's ~19 GB of audio at every start would cost minutes. Conservative: a
    rebuilt cache discards a checkpoint even when its bytes came out the same. Blind to a
    cache rewritten to the same size within one mtime tick, and to bytes edited in place
    with the mtime put back; the pipeline's own runs do neither, as they write a cache whole
    into a new file and rename it. An array in memory (tests) by its bytes."""
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

    Covers the settings (every seed's config.json: variant, model sizes, profile, seed, tags
    and numerics; the engine, device and thread count), the data (the cache index, the cache
    file, the labels and the validation windows), the training code and the torch and numpy
    versions, so a rerun after any of them changed starts over instead of finishing one model
    with updates of two runs.
    """
    parts = {
        "config": _sha256(canonical_json(run.configs).encode()),
        "engine": run.engine_name,
        "device": str(run.device),
        "threads": job.training.threads,
        "index": _frame_digest(run.source.index),
        "data": _array_digest(run.source.array),
        "labels": _sha256(np.ascontiguousarray(run.source.labels).tobytes()),
        "windows": _frame_digest(run.windows),
        "code": _code_digest(),
        # The libraries whose kernels and generators compute every update: a resume under
        # other versions would match neither version's uninterrupted run.
        "torch": str(torch.__version__),
        "numpy": np.__version__,
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
    """Fix the numerics, open the data and build each seed's network and optimiser (each
    network from torch's generator seeded with its seed)."""
    variant, profile = job.variant, job.training.profile
    device = select_device(job.training.device, "training.device")  # no tensor operation
    configure_torch(job.training.numerics, job.training.threads, device=str(device))
    use_device(device, "training.device")
    engine_name = resolve_engine(job.training.engine, device)
    frames = job.audio.frames(variant.length, variant.stride)
    source = load_window_source(variant, split_path, audio_stem, mel_stem, frames)
    windows = pd.read_csv(windows_path)
    train_rows = source.rows_of("train")
    if len(train_rows) == 0:
        raise RuntimeError(f"{variant.name}: no usable training clips (see skipped.csv)")
    if not (windows["split"] == "valid").any():
        raise RuntimeError(f"{variant.name}: no usable validation clips (see skipped.csv)")
    _require_defined_validation_auc(variant, source, windows)
    plan = _device_plan(job, engine_name, device, source, windows, train_rows)
    engine_name = plan.engine

    seeds = list(job.seeds)
    networks = seed_networks(
        lambda: build_variant_model(variant, frames, len(source.tags), job.model).to(device),
        seeds,
    )
    engine = build_engine(engine_name, networks, profile.learning_rate, profile.momentum)
    if engine_name == "graphed":
        resident = DeviceWindows(source, train_rows, device)
        sampler: HostSampler | DeviceSampler = DeviceSampler(
            resident, len(seeds), profile.batch_size
        )
    else:
        sampler = HostSampler(source, train_rows, seeds, profile.batch_size)
    configs = [model_config(job, frames, source.tags, seed) for seed in seeds]
    validation = None
    if plan.validation_resident:
        validation = ResidentWindows(source, windows, "valid", device)
    return TrainingRun(
        engine, engine_name, sampler, source, windows, train_rows, device, configs, validation
    )


def _device_plan(
    job: TrainingJob,
    engine_name: str,
    device: torch.device,
    source: WindowSource,
    windows: pd.DataFrame,
    train_rows: np.ndarray,
) -> DevicePlan:
    """On CUDA, what the job keeps on the device by its free memory
    (:mod:`pipeline.training.device_memory`), said on stderr when it is less than asked."""
    if device.type != "cuda":
        return DevicePlan(engine_name, validation_resident=False)
    _, rows = split_windows(source, windows, "valid")
    plan = plan_device_memory(
        engine_name,
        job.training.engine,
        device,
        resident_bytes(source, train_rows),
        resident_bytes(source, np.unique(rows)),
        free_device_memory(device),
    )
    if plan.note:
        print(f"{job_name(job)}: {plan.note}", file=sys.stderr)
    return plan


def job_name(job: TrainingJob) -> str:
    """How progress bars and messages name a job: the variant and its seeds."""
    return f"{job.variant.name} seeds {','.join(map(str, job.seeds))}"


def _step_function(run: TrainingRun, name: str) -> Callable[[], torch.Tensor]:
    """One update of every seed, returning the seeds' losses; captured in a CUDA graph for
    the graphed engine."""
    loss_function = torch.nn.BCEWithLogitsLoss()

    def step() -> torch.Tensor:
        inputs, targets = run.sampler(run.device)
        return run.engine.step(inputs, targets, loss_function)

    return GraphedStep(step, name) if run.engine_name == "graphed" else step


def _validate(
    job: TrainingJob, run: TrainingRun, states: list[TrainingState]
) -> tuple[list[float], list[bool]]:
    """Each seed's clip-level validation AUC and whether it improved on the seed's best, in
    which case the seed keeps its parameters.

    On a CPU a clip's windows are predicted in batches of their own (the evaluation's bits),
    each cut from the cache once and predicted by every seed; on a GPU in batches of
    ``evaluation.batch_size`` windows across clips, which is faster, cut on the device from
    the validation clips kept there (:class:`ResidentWindows`) where they fit.
    """
    networks = [run.engine.network(k) for k in range(len(states))]
    _, seed_scores, labels = clip_predictions_of_models(
        networks,
        run.source,
        run.windows,
        "valid",
        job.evaluation.batch_size,
        run.device,
        clip_aligned=run.device.type == "cpu",
        resident=run.validation,
    )
    aucs, improved = [], []
    for k, (state, scores) in enumerate(zip(states, seed_scores, strict=True)):
        valid_auc = mean_roc_auc(labels, scores)
        improved.append(bool(valid_auc > state.best_auc))
        if improved[-1]:
            state.best_auc = float(valid_auc)
            state.best_state = run.engine.parameters_of(k)
        aucs.append(valid_auc)
    run.engine.train()
    return aucs, improved


def _train_loop(
    job: TrainingJob,
    run: TrainingRun,
    states: list[TrainingState],
    checkpoint_path: Path,
    key: str,
    progress: bool,
) -> None:
    """SGD from the states' update to the profile's last update, validating (and writing a
    checkpoint) every ``validate_every`` updates and after the last one."""
    profile = job.training.profile
    name = job_name(job)
    step = _step_function(run, name)
    first = states[0].update
    elapsed_before = states[0].elapsed_s
    started = time.perf_counter()
    running = torch.zeros(len(states), dtype=torch.float64, device=run.device)
    count = 0
    bar = tqdm(
        total=profile.updates,
        initial=first,
        desc=name,
        unit="upd",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
    )
    run.engine.train()
    for update in range(first + 1, profile.updates + 1):
        running += step().double()  # on the device: no synchronisation between validations
        count += 1
        bar.update()
        if update % profile.validate_every == 0 or update == profile.updates:
            losses = (running / max(count, 1)).tolist()
            aucs, improved = _validate(job, run, states)
            elapsed = round(elapsed_before + time.perf_counter() - started, 3)
            for state, loss, auc, best in zip(states, losses, aucs, improved, strict=True):
                state.update = update
                state.history.append(
                    {
                        "update": update,
                        "train_loss": loss,
                        "valid_auc": auc,
                        "best": best,
                        "elapsed_s": elapsed,
                    }
                )
            running.zero_()
            count = 0
            bar.set_postfix(loss=f"{np.mean(losses):.4f}", valid_auc=f"{np.mean(aucs):.4f}")
            save_checkpoint(
                checkpoint_path, key, run.engine, run.sampler, states, device=run.device
            )
    bar.close()


def write_outputs(
    out_dir: Path, config: dict[str, Any], state: TrainingState, job_facts: dict[str, Any]
) -> pd.DataFrame:
    """model.pt (the best parameters), config.json, history.csv and timing.json (the job's
    wall-clock time and how it ran: ``job_facts``, e.g. device, engine and seeds in the job)."""
    if state.best_state is None:
        raise RuntimeError("no validation gave a defined AUC; nothing to keep")
    history = state.history
    config["best_valid_auc"] = state.best_auc
    config["best_update"] = int(max(h["update"] for h in history if h["best"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    save_trained(out_dir, state.best_state, config)
    frame = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    atomic.write_csv(frame.drop(columns=["elapsed_s"]), out_dir / "history.csv")
    timing = {"elapsed_s": history[-1]["elapsed_s"], **job_facts}
    atomic.write_text(out_dir / "timing.json", json.dumps(timing) + "\n")
    return frame


def seed_dir(variant_dir: Path, seed: int) -> Path:
    """Where seed ``seed`` of a variant writes its model (as :meth:`Paths.model_dir`)."""
    return variant_dir / f"seed{seed}"


def train_variant(
    job: TrainingJob,
    split_path: Path,
    audio_stem: Path,
    mel_stem: Path | None,
    windows_path: Path,
    variant_dir: Path,
    progress: bool = True,
) -> dict[int, pd.DataFrame]:
    """Train every seed of a variant; each writes model.pt (its best parameters), config.json
    and history.csv under ``variant_dir/seed<k>/``. Returns each seed's history."""
    run = _setup(job, split_path, audio_stem, mel_stem, windows_path)
    variant_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = variant_dir / "checkpoint.pt"
    key = _resume_key(job, run)
    states = resume_from_checkpoint(
        checkpoint_path, key, run.engine, run.sampler, job_name(job), device=run.device
    ) or [TrainingState() for _ in job.seeds]
    _train_loop(job, run, states, checkpoint_path, key, progress)
    facts = {"device": str(run.device), "engine": run.engine_name, "seeds_in_job": len(states)}
    frames = {
        seed: write_outputs(seed_dir(variant_dir, seed), config, state, facts)
        for seed, config, state in zip(job.seeds, run.configs, states, strict=True)
    }
    checkpoint_path.unlink(missing_ok=True)
    return frames
