import json

import pandas as pd
import pytest
import torch

from pipeline.training import loop
from pipeline.training.checkpoint import TrainingState, resume_from_checkpoint
from pipeline.training.loop import HISTORY_COLUMNS, model_config, write_outputs
from tests.training.tiny_setup import FRAMES, TINY, tiny_job, tiny_run


class Interrupted(Exception):
    pass


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in history]


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    job = tiny_job(updates=6, validate_every=2)
    whole, whole_run = TrainingState(), tiny_run(job)
    loop._train_loop(job, whole_run, whole, tmp_path / "whole.pt", "h", progress=False)

    path = tmp_path / "checkpoint.pt"
    save = loop.save_checkpoint

    def save_then_stop(*args):
        save(*args)
        if args[-1].update == 4:
            raise Interrupted

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        loop._train_loop(job, tiny_run(job), TrainingState(), path, "h", progress=False)
    monkeypatch.undo()

    run = tiny_run(job)
    state = resume_from_checkpoint(path, "h", run.model, run.optimizer, run.rng, run.device)
    assert state is not None and state.update == 4
    loop._train_loop(job, run, state, path, "h", progress=False)

    assert [row["update"] for row in state.history] == [2, 4, 6]
    assert _without_time(state.history) == _without_time(whole.history)
    assert state.best_auc == whole.best_auc
    for name, tensor in whole.best_state.items():
        assert torch.equal(state.best_state[name], tensor), name
    for name, tensor in whole_run.model.state_dict().items():
        assert torch.equal(run.model.state_dict()[name], tensor), name


def test_write_outputs_keeps_the_best_update_and_drops_timing_from_history(tmp_path):
    job = tiny_job()
    config = model_config(job, FRAMES, ["loud", "quiet"])
    history = [
        {"update": 2, "train_loss": 0.7, "valid_auc": 0.6, "best": True, "elapsed_s": 0.1},
        {"update": 4, "train_loss": 0.6, "valid_auc": 0.8, "best": True, "elapsed_s": 0.2},
        {"update": 6, "train_loss": 0.5, "valid_auc": 0.7, "best": False, "elapsed_s": 0.3},
    ]
    state = TrainingState(0.8, {"w": torch.zeros(1)}, 6, history)
    frame = write_outputs(tmp_path, config, state, torch.device("cpu"))

    assert list(frame.columns) == HISTORY_COLUMNS
    written = json.loads((tmp_path / "config.json").read_text())
    assert (written["best_valid_auc"], written["best_update"]) == (0.8, 4)
    assert list(pd.read_csv(tmp_path / "history.csv").columns) == HISTORY_COLUMNS[:-1]
    assert json.loads((tmp_path / "timing.json").read_text()) == {"elapsed_s": 0.3, "device": "cpu"}
    assert torch.equal(torch.load(tmp_path / "model.pt", weights_only=True)["w"], torch.zeros(1))


def test_model_config_records_what_rebuilds_the_network():
    config = model_config(tiny_job(seed=5), FRAMES, ["loud", "quiet"])
    assert config["model"] == TINY.to_dict()
    assert config["training"] == {
        "profile": "tiny", "seed": 5, "updates": 6, "validate_every": 2,
        "batch_size": 4, "learning_rate": 0.05, "momentum": 0.9,
    }  # fmt: skip
    assert (config["window_frames"], config["window_samples"]) == (16, 4096)
    assert (config["min_n_fft"], config["dataset"], config["variant"]) == (
        256,
        "synth",
        "raw_256_256",
    )
