import numpy as np
import pytest
import torch

from pipeline.training.checkpoint import TrainingState, resume_from_checkpoint, save_checkpoint
from tests.training.tiny_setup import tiny_job, tiny_run


def _step(run) -> None:
    """One SGD update, so the optimiser holds momentum buffers and the generators have moved."""
    inputs, targets = run.source.random_batch(run.rng, run.train_rows, 4)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        run.model(torch.from_numpy(inputs)), torch.from_numpy(targets)
    )
    loss.backward()
    run.optimizer.step()


def test_a_resumed_checkpoint_restores_model_optimizer_generators_and_progress(tmp_path, capsys):
    saved = tiny_run(tiny_job(seed=3))
    _step(saved)
    torch.rand(5)  # move the torch generator past the seed as well
    state = TrainingState(0.75, {"w": torch.ones(2)}, 2, [{"update": 2, "elapsed_s": 1.5}])
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "hash", saved.model, saved.optimizer, saved.rng, state)
    expected_torch_rng = torch.get_rng_state()

    fresh = tiny_run(tiny_job(seed=4))  # different weights and generators
    restored = resume_from_checkpoint(path, "hash", fresh.model, fresh.optimizer, fresh.rng, "tiny")

    assert restored is not None
    assert capsys.readouterr().err == "tiny: resuming from update 2\n"
    for name, tensor in saved.model.state_dict().items():
        assert torch.equal(fresh.model.state_dict()[name], tensor), name
    momentum = [s["momentum_buffer"] for s in saved.optimizer.state_dict()["state"].values()]
    resumed = [s["momentum_buffer"] for s in fresh.optimizer.state_dict()["state"].values()]
    assert len(momentum) == len(resumed) > 0
    assert all(torch.equal(a, b) for a, b in zip(momentum, resumed, strict=True))
    assert fresh.rng.bit_generator.state == saved.rng.bit_generator.state
    assert np.array_equal(fresh.rng.random(3), saved.rng.random(3))
    assert torch.equal(torch.get_rng_state(), expected_torch_rng)
    assert (restored.best_auc, restored.update, restored.history) == (0.75, 2, state.history)
    assert torch.equal(restored.best_state["w"], torch.ones(2))
    assert restored.elapsed_s == 1.5


def test_no_checkpoint_restores_nothing_and_one_of_other_inputs_is_discarded(tmp_path, capsys):
    saved = tiny_run(tiny_job(seed=3))
    path = tmp_path / "checkpoint.pt"
    fresh = tiny_run(tiny_job(seed=4))
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    assert resume_from_checkpoint(path, "a", fresh.model, fresh.optimizer, fresh.rng, "x") is None
    assert capsys.readouterr().err == ""

    save_checkpoint(path, "a", saved.model, saved.optimizer, saved.rng, TrainingState())
    assert resume_from_checkpoint(path, "b", fresh.model, fresh.optimizer, fresh.rng, "x") is None

    assert capsys.readouterr().err == (
        "x: discarding checkpoint.pt made from other inputs "
        "(labels, data, settings or training code); training from the start\n"
    )
    assert not path.exists()
    assert all(torch.equal(fresh.model.state_dict()[k], v) for k, v in before.items())
    assert fresh.rng.bit_generator.state != saved.rng.bit_generator.state


def test_resume_restores_the_torch_generator_from_a_cpu_byte_tensor(tmp_path, monkeypatch):
    """torch.set_rng_state takes only a CPU ByteTensor: a checkpoint loaded onto CUDA broke
    every resume on a GPU. The best parameters stay on the CPU too, as model.pt's are."""
    saved = tiny_run(tiny_job(seed=3))
    state = TrainingState(0.5, {"w": torch.ones(2)}, 2, [{"update": 2, "elapsed_s": 1.0}])
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "k", saved.model, saved.optimizer, saved.rng, state)
    received = []
    set_rng_state = torch.set_rng_state
    monkeypatch.setattr(torch, "set_rng_state", lambda s: (received.append(s), set_rng_state(s)))

    fresh = tiny_run(tiny_job(seed=4))
    restored = resume_from_checkpoint(path, "k", fresh.model, fresh.optimizer, fresh.rng, "x")

    assert [(s.device.type, s.dtype) for s in received] == [("cpu", torch.uint8)]
    assert restored is not None and restored.best_state["w"].device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_run_resumes_with_its_cuda_and_cpu_generators(tmp_path):
    saved = tiny_run(tiny_job(seed=3))
    saved.model.cuda()
    torch.rand(3, device="cuda")  # CUDA is in use and its generator has moved
    torch.rand(5)
    best = {k: v.cpu() for k, v in saved.model.state_dict().items()}
    path = tmp_path / "checkpoint.pt"
    state = TrainingState(0.5, best, 2, [{"update": 2, "elapsed_s": 1.0}])
    save_checkpoint(path, "k", saved.model, saved.optimizer, saved.rng, state)
    cpu_state, cuda_states = torch.get_rng_state(), torch.cuda.get_rng_state_all()
    torch.rand(7, device="cuda")
    torch.rand(7)

    fresh = tiny_run(tiny_job(seed=4))
    fresh.model.cuda()
    restored = resume_from_checkpoint(path, "k", fresh.model, fresh.optimizer, fresh.rng, "x")

    assert restored is not None
    assert torch.equal(torch.get_rng_state(), cpu_state)
    assert all(map(torch.equal, torch.cuda.get_rng_state_all(), cuda_states))
    assert all(t.device.type == "cpu" for t in restored.best_state.values())
    assert all(t.device.type == "cuda" for t in fresh.model.state_dict().values())
