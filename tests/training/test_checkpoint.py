import numpy as np
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


def test_a_resumed_checkpoint_restores_model_optimizer_generators_and_progress(tmp_path):
    saved = tiny_run(tiny_job(seed=3))
    _step(saved)
    torch.rand(5)  # move the torch generator past the seed as well
    state = TrainingState(0.75, {"w": torch.ones(2)}, 2, [{"update": 2, "elapsed_s": 1.5}])
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "hash", saved.model, saved.optimizer, saved.rng, state)
    expected_torch_rng = torch.get_rng_state()

    fresh = tiny_run(tiny_job(seed=4))  # different weights and generators
    restored = resume_from_checkpoint(
        path, "hash", fresh.model, fresh.optimizer, fresh.rng, fresh.device
    )

    assert restored is not None
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


def test_a_checkpoint_of_other_settings_or_none_restores_nothing(tmp_path):
    saved = tiny_run(tiny_job(seed=3))
    path = tmp_path / "checkpoint.pt"
    fresh = tiny_run(tiny_job(seed=4))
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    assert resume_from_checkpoint(path, "a", fresh.model, fresh.optimizer, fresh.rng, "cpu") is None
    save_checkpoint(path, "a", saved.model, saved.optimizer, saved.rng, TrainingState())
    assert resume_from_checkpoint(path, "b", fresh.model, fresh.optimizer, fresh.rng, "cpu") is None
    assert all(torch.equal(fresh.model.state_dict()[k], v) for k, v in before.items())
    assert fresh.rng.bit_generator.state != saved.rng.bit_generator.state
