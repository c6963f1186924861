import numpy as np
import pytest
import torch

from pipeline.training.checkpoint import TrainingState, resume_from_checkpoint, save_checkpoint
from pipeline.training.sgd import MomentumSGD
from tests.training.tiny_setup import tiny_job, tiny_run

CPU = torch.device("cpu")


def _step(run) -> None:
    """One SGD update, so the optimisers hold momentum buffers and the generators have moved."""
    inputs, targets = run.sampler(run.device)
    run.engine.step(inputs, targets, torch.nn.functional.binary_cross_entropy_with_logits)


def _momentum(optimizer: MomentumSGD) -> list[torch.Tensor]:
    return optimizer.state_dict()["buffers"]


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].to(a[k].device)) for k in a)


@pytest.mark.parametrize("engine", ["looped", "packed"])
def test_a_resumed_checkpoint_restores_networks_optimizers_generators_and_progress(
    tmp_path, capsys, engine
):
    saved = tiny_run(tiny_job(seeds=(3, 5), engine=engine))
    _step(saved)
    torch.rand(5)  # move the torch generator past the seed as well
    states = [
        TrainingState(0.75, {"w": torch.ones(2)}, 2, [{"update": 2, "elapsed_s": 1.5}]),
        TrainingState(0.5, {"w": torch.zeros(2)}, 2, [{"update": 2, "elapsed_s": 1.5}]),
    ]
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "hash", saved.engine, saved.sampler, states, device=CPU)
    expected_torch_rng = torch.get_rng_state()

    fresh = tiny_run(tiny_job(seeds=(4, 6), engine=engine))  # other weights and generators
    restored = resume_from_checkpoint(path, "hash", fresh.engine, fresh.sampler, "tiny", device=CPU)

    assert restored is not None
    assert capsys.readouterr().err == "tiny: resuming from update 2\n"
    for k in range(2):
        assert _same_tensors(saved.engine.parameters_of(k), fresh.engine.parameters_of(k))
    optimizers = (
        zip(saved.engine.optimizers, fresh.engine.optimizers, strict=True)
        if engine == "looped"
        else [(saved.engine.optimizer, fresh.engine.optimizer)]
    )
    for before, after in optimizers:
        assert len(_momentum(before)) == len(_momentum(after)) > 0
        assert all(map(torch.equal, _momentum(before), _momentum(after)))
    for a, b in zip(saved.sampler.generators, fresh.sampler.generators, strict=True):
        assert a.bit_generator.state == b.bit_generator.state
        assert np.array_equal(a.random(3), b.random(3))
    assert torch.equal(torch.get_rng_state(), expected_torch_rng)
    assert [(s.best_auc, s.update, s.history) for s in restored] == [
        (s.best_auc, s.update, s.history) for s in states
    ]
    assert torch.equal(restored[1].best_state["w"], torch.zeros(2))
    assert restored[0].elapsed_s == 1.5


def test_no_checkpoint_restores_nothing_and_one_of_other_inputs_is_discarded(tmp_path, capsys):
    saved = tiny_run(tiny_job(seed=3))
    path = tmp_path / "checkpoint.pt"
    fresh = tiny_run(tiny_job(seed=4))
    before = fresh.engine.parameters_of(0)
    assert resume_from_checkpoint(path, "a", fresh.engine, fresh.sampler, "x", device=CPU) is None
    assert capsys.readouterr().err == ""

    save_checkpoint(path, "a", saved.engine, saved.sampler, [TrainingState()], device=CPU)
    assert resume_from_checkpoint(path, "b", fresh.engine, fresh.sampler, "x", device=CPU) is None

    assert capsys.readouterr().err == (
        "x: discarding checkpoint.pt made from other inputs "
        "(labels, data, settings or training code); training from the start\n"
    )
    assert not path.exists()
    assert _same_tensors(fresh.engine.parameters_of(0), before)
    [saved_rng], [fresh_rng] = saved.sampler.generators, fresh.sampler.generators
    assert fresh_rng.bit_generator.state != saved_rng.bit_generator.state


def test_resume_restores_the_torch_generator_from_a_cpu_byte_tensor(tmp_path, monkeypatch):
    """torch.set_rng_state takes only a CPU ByteTensor: a checkpoint loaded onto CUDA broke
    every resume on a GPU. The best parameters stay on the CPU too, as model.pt's are."""
    saved = tiny_run(tiny_job(seed=3))
    state = TrainingState(0.5, {"w": torch.ones(2)}, 2, [{"update": 2, "elapsed_s": 1.0}])
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "k", saved.engine, saved.sampler, [state], device=CPU)
    received = []
    set_rng_state = torch.set_rng_state
    monkeypatch.setattr(torch, "set_rng_state", lambda s: (received.append(s), set_rng_state(s)))

    fresh = tiny_run(tiny_job(seed=4))
    restored = resume_from_checkpoint(path, "k", fresh.engine, fresh.sampler, "x", device=CPU)

    assert [(s.device.type, s.dtype) for s in received] == [("cpu", torch.uint8)]
    assert restored is not None and restored[0].best_state["w"].device.type == "cpu"


def _forbidden(*args, **kwargs):
    raise AssertionError("a CUDA generator other than the training device's was used")


def test_a_cpu_run_neither_saves_nor_restores_a_cuda_generator(tmp_path, monkeypatch):
    """Asking CUDA for a generator would start CUDA (or fail without one): a CPU job never does,
    even in a process where CUDA is already in use."""
    for name in ("get_rng_state", "get_rng_state_all", "set_rng_state", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, _forbidden)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    saved = tiny_run(tiny_job(seed=3))
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "k", saved.engine, saved.sampler, [TrainingState()], device=CPU)
    assert torch.load(path, weights_only=True)["cuda_rng"] is None

    fresh = tiny_run(tiny_job(seed=4))
    assert resume_from_checkpoint(path, "k", fresh.engine, fresh.sampler, "x", device=CPU)


def test_only_the_training_devices_cuda_generator_is_saved_and_restored(tmp_path, monkeypatch):
    """A job keeps the generator of the GPU it trains on alone, so it resumes on a node that
    shows fewer GPUs (there, the job's GPU may have another index)."""
    calls = []
    generator = torch.arange(16, dtype=torch.uint8)

    def get_rng_state(device="cuda"):
        calls.append(("get", device))
        return generator.clone()

    def set_rng_state(state, device="cuda"):
        calls.append(("set", device, state.clone()))

    monkeypatch.setattr(torch.cuda, "get_rng_state", get_rng_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_rng_state)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", _forbidden)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", _forbidden)
    trained_on, resumed_on = torch.device("cuda", 1), torch.device("cuda", 0)
    saved = tiny_run(tiny_job(seed=3))  # CPU networks: the device is what the checkpoint is told
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "k", saved.engine, saved.sampler, [TrainingState()], device=trained_on)
    assert calls == [("get", trained_on)]
    assert torch.equal(torch.load(path, weights_only=True)["cuda_rng"], generator)

    fresh = tiny_run(tiny_job(seed=4))
    assert resume_from_checkpoint(path, "k", fresh.engine, fresh.sampler, "x", device=resumed_on)
    [(_, device, state)] = calls[1:]
    assert device == resumed_on and torch.equal(state, generator)


def test_a_checkpoint_with_every_gpus_generators_is_discarded_cleanly(tmp_path, capsys):
    """Checkpoints of the first layout held a list of every visible GPU's generator, which
    cannot be restored where fewer GPUs show: such a checkpoint is discarded, not half used."""
    saved = tiny_run(tiny_job(seed=3))
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "k", saved.engine, saved.sampler, [TrainingState()], device=CPU)
    old = torch.load(path, weights_only=True)
    del old["format"]
    old["cuda_rng"] = [torch.zeros(16, dtype=torch.uint8)] * 2
    torch.save(old, path)

    fresh = tiny_run(tiny_job(seed=4))
    before = fresh.engine.parameters_of(0)
    assert resume_from_checkpoint(path, "k", fresh.engine, fresh.sampler, "x", device=CPU) is None
    assert "x: discarding checkpoint.pt made from other inputs" in capsys.readouterr().err
    assert not path.exists()
    assert _same_tensors(fresh.engine.parameters_of(0), before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("engine", ["looped", "packed"])
def test_a_cuda_run_resumes_with_its_cuda_and_cpu_generators(tmp_path, engine):
    def cuda_run(seed: int):
        return tiny_run(tiny_job(seed=seed, engine=engine), device="cuda")

    saved = cuda_run(3)
    _step(saved)
    torch.rand(3, device="cuda")  # CUDA is in use and its generator has moved
    torch.rand(5)
    best = saved.engine.parameters_of(0)
    path = tmp_path / "checkpoint.pt"
    state = TrainingState(0.5, best, 2, [{"update": 2, "elapsed_s": 1.0}])
    save_checkpoint(path, "k", saved.engine, saved.sampler, [state], device=saved.device)
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state(saved.device)
    torch.rand(7, device="cuda")
    torch.rand(7)

    fresh = cuda_run(4)
    restored = resume_from_checkpoint(
        path, "k", fresh.engine, fresh.sampler, "x", device=fresh.device
    )

    assert restored is not None
    assert torch.equal(torch.get_rng_state(), cpu_state)
    assert torch.equal(torch.cuda.get_rng_state(fresh.device), cuda_state)
    assert all(t.device.type == "cpu" for t in restored[0].best_state.values())
    assert _same_tensors(fresh.engine.parameters_of(0), saved.engine.parameters_of(0))
