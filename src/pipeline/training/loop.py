"""Train one variant: minibatch SGD on binary cross-entropy, validating at regular intervals.

The parameters with the best clip-level validation AUC are kept (paper, section 4.1).
A checkpoint is written at every validation, so an interrupted run resumes where it stopped
instead of starting over; it is only reused when every setting that shapes training matches.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pipeline import atomic
from pipeline.config import (
    Variant,
    canonical_json,
    frames_per_window,
    training_profile,
    window_length_samples,
)
from pipeline.constants import SAMPLE_RATE
from pipeline.metrics import mean_auc, per_tag_auc
from pipeline.training.batches import WindowSource, load_window_source
from pipeline.training.networks import build_variant_model, select_device
from pipeline.training.predict import clip_predictions

HISTORY_COLUMNS = ["update", "train_loss", "valid_auc", "best", "elapsed_s"]


def make_deterministic(seed: int, threads: int) -> None:
    """Fixed seeds, deterministic kernels and a fixed thread count: same inputs, same bits."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic.write_bytes(path, buffer.getvalue())


def model_config(
    variant: Variant, params: dict[str, Any], frames: int, tags: list[str], seed: int
) -> dict[str, Any]:
    """Everything needed to rebuild and use the network without params.yaml (config.json)."""
    return {
        "variant": variant.name,
        **variant.to_dict(),
        "sample_rate": SAMPLE_RATE,
        "window_frames": frames,
        "window_samples": (frames - 1) * variant.stride + variant.length,
        "min_n_fft": params["audio"]["min_n_fft"],
        "tags": tags,
        "model": params["model"],
        "training": {
            "profile": params["training"]["profile"],
            "seed": seed,
            **training_profile(params),
        },
        "dataset": params["dataset"],
    }


def _settings_hash(config: dict[str, Any], source: WindowSource) -> str:
    digest = hashlib.sha256(canonical_json(config).encode())
    digest.update(pd.util.hash_pandas_object(source.index, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def train_variant(
    variant: Variant,
    params: dict[str, Any],
    seed: int,
    split_path: Path,
    audio_stem: Path,
    mel_stem: Path | None,
    windows_path: Path,
    out_dir: Path,
    progress: bool = True,
) -> pd.DataFrame:
    """Train a variant and write model.pt (best parameters), config.json and history.csv."""
    profile = training_profile(params)
    make_deterministic(seed, params["training"]["threads"])
    device = select_device(params["training"]["device"], "training.device")
    frames = frames_per_window(window_length_samples(params), variant.length, variant.stride)
    source = load_window_source(variant, split_path, audio_stem, mel_stem, frames)
    windows = pd.read_csv(windows_path)
    train_rows = source.rows_of("train")
    if len(train_rows) == 0:
        raise RuntimeError(f"{variant.name}: no usable training clips (see skipped.csv)")
    if not (windows["split"] == "valid").any():
        raise RuntimeError(f"{variant.name}: no usable validation clips (see skipped.csv)")

    config = model_config(variant, params, frames, source.tags, seed)
    model = build_variant_model(variant, frames, len(source.tags), params["model"]).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=profile["learning_rate"], momentum=profile["momentum"]
    )
    loss_function = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)

    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / "checkpoint.pt"
    settings = _settings_hash(config, source)
    history: list[dict[str, Any]] = []
    best_auc, best_state, start_update, elapsed_before = -np.inf, None, 0, 0.0
    if checkpoint_path.exists():
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if checkpoint.get("settings") == settings:
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            rng.bit_generator.state = checkpoint["numpy_rng"]
            torch.set_rng_state(checkpoint["torch_rng"])
            best_auc, best_state = checkpoint["best_auc"], checkpoint["best_state"]
            start_update, history = checkpoint["update"], checkpoint["history"]
            elapsed_before = history[-1]["elapsed_s"] if history else 0.0
            print(f"{variant.name}: resuming from update {start_update}", file=sys.stderr)

    started = time.perf_counter()
    running_loss, running_count = 0.0, 0
    bar = tqdm(
        total=profile["updates"],
        initial=start_update,
        desc=f"{variant.name} seed {seed}",
        unit="upd",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
    )
    model.train()
    for update in range(start_update + 1, profile["updates"] + 1):
        inputs, targets = source.random_batch(rng, train_rows, profile["batch_size"])
        inputs = torch.from_numpy(inputs).to(device)
        targets = torch.from_numpy(targets).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(inputs), targets)
        loss.backward()
        optimizer.step()
        running_loss += float(loss.detach())
        running_count += 1
        bar.update()
        if update % profile["validate_every"] == 0 or update == profile["updates"]:
            _, scores, labels = clip_predictions(
                model, source, windows, "valid", params["evaluation"]["batch_size"], device
            )
            model.train()
            valid_auc = mean_auc(per_tag_auc(labels, scores, source.tags))
            improved = bool(valid_auc > best_auc)
            if improved:
                best_auc = float(valid_auc)
                best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
            history.append(
                {
                    "update": update,
                    "train_loss": running_loss / max(running_count, 1),
                    "valid_auc": valid_auc,
                    "best": improved,
                    "elapsed_s": round(elapsed_before + time.perf_counter() - started, 3),
                }
            )
            running_loss, running_count = 0.0, 0
            bar.set_postfix(loss=f"{history[-1]['train_loss']:.4f}", valid_auc=f"{valid_auc:.4f}")
            _atomic_torch_save(
                {
                    "settings": settings,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "best_auc": best_auc,
                    "best_state": best_state,
                    "update": update,
                    "history": history,
                },
                checkpoint_path,
            )
    bar.close()

    assert best_state is not None
    config["best_valid_auc"] = best_auc
    config["best_update"] = int(max(h["update"] for h in history if h["best"]))
    _atomic_torch_save(best_state, out_dir / "model.pt")
    atomic.write_text(out_dir / "config.json", canonical_json(config) + "\n")
    frame = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    atomic.write_csv(frame.drop(columns=["elapsed_s"]), out_dir / "history.csv")
    timing = {"elapsed_s": history[-1]["elapsed_s"], "device": str(device)}
    atomic.write_text(out_dir / "timing.json", json.dumps(timing) + "\n")
    checkpoint_path.unlink(missing_ok=True)
    return frame
