import json
import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.training import loop
from pipeline.training.checkpoint import TrainingState, resume_from_checkpoint
from pipeline.training.loop import HISTORY_COLUMNS, model_config, write_outputs
from tests.training.tiny_setup import FRAMES, TINY, tiny_job, tiny_run, tiny_source


class Interrupted(Exception):
    pass


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in history]


@pytest.mark.parametrize("engine", ["looped", "packed"])
def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, engine):
    job = tiny_job(updates=6, validate_every=2, seeds=(3, 4), engine=engine)
    whole, whole_run = [TrainingState(), TrainingState()], tiny_run(job)
    loop._train_loop(job, whole_run, whole, tmp_path / "whole.pt", "h", progress=False)

    path = tmp_path / "checkpoint.pt"
    save = loop.save_checkpoint

    def save_then_stop(*args, **kwargs):
        save(*args, **kwargs)
        if args[-1][0].update == 4:
            raise Interrupted

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        loop._train_loop(job, tiny_run(job), [TrainingState(), TrainingState()], path, "h", False)
    monkeypatch.undo()

    run = tiny_run(job)
    states = resume_from_checkpoint(path, "h", run.engine, run.sampler, "tiny", device=run.device)
    assert states is not None and [s.update for s in states] == [4, 4]
    loop._train_loop(job, run, states, path, "h", progress=False)

    for k, (state, uninterrupted) in enumerate(zip(states, whole, strict=True)):
        assert [row["update"] for row in state.history] == [2, 4, 6]
        assert _without_time(state.history) == _without_time(uninterrupted.history)
        assert state.best_auc == uninterrupted.best_auc
        for name, tensor in uninterrupted.best_state.items():
            assert torch.equal(state.best_state[name], tensor), name
        final, final_whole = run.engine.parameters_of(k), whole_run.engine.parameters_of(k)
        for name, tensor in final_whole.items():
            assert torch.equal(final[name], tensor), name


def test_write_outputs_keeps_the_best_update_and_drops_timing_from_history(tmp_path):
    job = tiny_job()
    config = model_config(job, FRAMES, ["loud", "quiet"], 3)
    history = [
        {"update": 2, "train_loss": 0.7, "valid_auc": 0.6, "best": True, "elapsed_s": 0.1},
        {"update": 4, "train_loss": 0.6, "valid_auc": 0.8, "best": True, "elapsed_s": 0.2},
        {"update": 6, "train_loss": 0.5, "valid_auc": 0.7, "best": False, "elapsed_s": 0.3},
    ]
    state = TrainingState(0.8, {"w": torch.zeros(1)}, 6, history)
    frame = write_outputs(tmp_path, config, state, {"device": "cpu", "engine": "looped"})

    assert list(frame.columns) == HISTORY_COLUMNS
    written = json.loads((tmp_path / "config.json").read_text())
    assert (written["best_valid_auc"], written["best_update"]) == (0.8, 4)
    assert list(pd.read_csv(tmp_path / "history.csv").columns) == HISTORY_COLUMNS[:-1]
    assert json.loads((tmp_path / "timing.json").read_text()) == {
        "elapsed_s": 0.3, "device": "cpu", "engine": "looped"
    }  # fmt: skip
    assert torch.equal(torch.load(tmp_path / "model.pt", weights_only=True)["w"], torch.zeros(1))


def test_model_config_records_what_rebuilds_the_network():
    config = model_config(tiny_job(seed=5), FRAMES, ["loud", "quiet"], 5)
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


def test_model_config_records_cudas_float32_precision_as_the_process_runs_it():
    """Read from torch, not written as a constant: a process left in TF32 says so."""
    tiny_run(tiny_job())  # configure_torch, as training's setup
    assert model_config(tiny_job(), FRAMES, ["loud"], 3)["cuda_fp32_precision"] == {
        "matmul": "ieee",
        "conv": "ieee",
    }
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    try:
        config = model_config(tiny_job(), FRAMES, ["loud"], 3)
    finally:
        torch.backends.cudnn.conv.fp32_precision = "ieee"
    assert config["cuda_fp32_precision"] == {"matmul": "ieee", "conv": "tf32"}


def _source_with(run, **changes):
    return replace(run, source=replace(run.source, **changes))


KEY_CHANGES = {
    "settings": lambda job, run: (
        job,
        replace(run, configs=[model_config(replace(job, seeds=(4,)), FRAMES, run.source.tags, 4)]),
    ),
    "seeds": lambda job, run: (
        job,
        replace(
            run,
            configs=[model_config(job, FRAMES, run.source.tags, s) for s in (3, 4)],
        ),
    ),
    "engine": lambda job, run: (job, replace(run, engine_name="packed")),
    "threads": lambda job, run: (replace(job, training=replace(job.training, threads=2)), run),
    "device": lambda job, run: (job, replace(run, device=torch.device("meta"))),
    "labels": lambda job, run: (job, _source_with(run, labels=1 - run.source.labels)),
    "audio": lambda job, run: (job, _source_with(run, array=run.source.array // 2)),
    "clips": lambda job, run: (job, _source_with(run, index=run.source.index[:-1])),
    "windows": lambda job, run: (job, replace(run, windows=run.windows[1:])),
}


def test_the_resume_key_is_the_same_for_the_same_inputs():
    job = tiny_job()
    assert loop._resume_key(job, tiny_run(job)) == loop._resume_key(job, tiny_run(job))


@pytest.mark.parametrize("change", KEY_CHANGES.values(), ids=KEY_CHANGES.keys())
def test_the_resume_key_changes_with_every_input_of_training(change):
    job = tiny_job()
    run = tiny_run(job)
    assert loop._resume_key(*change(job, run)) != loop._resume_key(job, run)


def test_the_resume_key_changes_when_the_cache_file_is_rewritten(tmp_path):
    job = tiny_job()
    run = tiny_run(job)
    path = tmp_path / "audio.bin"
    run.source.array.tofile(path)
    run.source.array = np.memmap(path, dtype=run.source.array.dtype, mode="r")
    before = loop._resume_key(job, run)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # rewritten, same bytes
    assert loop._resume_key(job, run) != before


def test_the_resume_key_changes_with_the_training_code(tmp_path, monkeypatch):
    module = tmp_path / "pipeline" / "module.py"
    module.parent.mkdir()
    module.write_text("A = 1\n")
    monkeypatch.setattr(loop, "PACKAGE_DIR", module.parent)
    monkeypatch.setattr(
        loop, "code_files", lambda *entries: [module] * (entries == ("pipeline.training.loop",))
    )
    job = tiny_job()
    run = tiny_run(job)
    before = loop._resume_key(job, run)
    module.write_text("A = 2\n")
    assert loop._resume_key(job, run) != before


def test_the_training_code_is_every_module_training_imports():
    names = {path.name for path in loop.code_files("pipeline.training.loop")}
    assert {
        "loop.py", "checkpoint.py", "batches.py", "networks.py", "predict.py",
        "engines.py", "sampling.py", "graph.py",
    } <= names  # fmt: skip


def test_a_validation_part_without_a_varied_tag_is_refused_up_front():
    """One validation clip (synth.clips_per_part 1 used to allow it): no tag can have an AUC."""
    from pipeline.training.loop import _require_defined_validation_auc

    job = tiny_job()
    source, windows = tiny_source()
    one_clip = windows[windows["clip_id"] == windows["clip_id"].iloc[0]]
    with pytest.raises(RuntimeError, match="validation AUC is undefined"):
        _require_defined_validation_auc(job.variant, source, one_clip)
    _require_defined_validation_auc(job.variant, source, windows)  # varied tags: accepted
