"""Training every seed of a variant in one job gives each seed the model it gets alone:
bit for bit with the looped engine, within float rounding with the packed one."""

from __future__ import annotations

import pytest
import torch

from pipeline.training.engines import LoopedSeeds, PackedSeeds, resolve_engine, seed_networks
from pipeline.training.loop import train_variant
from pipeline.training.networks import load_trained
from pipeline.training.sampling import HostSampler
from tests.training.engine_data import VARIANTS, builder, source_of
from tests.training.tiny_setup import tiny_job, write_tiny_inputs

SEEDS = [1, 2, 3]
UPDATES = 30
LOSS = torch.nn.BCEWithLogitsLoss()


def _train(engine_class, variant, seeds: list[int]) -> list[dict[str, torch.Tensor]]:
    """``UPDATES`` updates of ``seeds`` in one engine, batches from their own streams."""
    torch.use_deterministic_algorithms(True)
    source = source_of(variant)
    sampler = HostSampler(source, source.rows_of("train"), seeds, batch_size=10)
    engine = engine_class(seed_networks(builder(variant), seeds), 0.05, 0.9)
    for _ in range(UPDATES):
        engine.step(*sampler(torch.device("cpu")), LOSS)
    return [engine.parameters_of(k) for k in range(len(seeds))]


def _relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[n] - b[n]).abs().max() / a[n].abs().max()) for n in a)


@pytest.mark.parametrize("front_end", VARIANTS)
def test_packed_seeds_train_as_each_seed_alone(front_end):
    variant = VARIANTS[front_end]
    packed = _train(PackedSeeds, variant, SEEDS)
    for k, seed in enumerate(SEEDS):
        [alone] = _train(LoopedSeeds, variant, [seed])
        assert _relative_difference(alone, packed[k]) < 1e-5, seed
    assert _relative_difference(packed[0], packed[1]) > 1e-2, "the seeds must differ"


@pytest.mark.parametrize("front_end", VARIANTS)
def test_looped_seeds_train_bit_for_bit_as_each_seed_alone(front_end):
    variant = VARIANTS[front_end]
    together = _train(LoopedSeeds, variant, SEEDS)
    [alone] = _train(LoopedSeeds, variant, [SEEDS[1]])
    assert all(torch.equal(alone[name], together[1][name]) for name in alone)


@pytest.mark.parametrize("engine", ["looped", "packed"])
def test_a_job_writes_every_seed_as_its_own_trained_model(tmp_path, engine):
    """Seed 4's files are the same whether seed 3 shares its job (looped) or close to them
    (packed), and each seed's folder loads as a model of that seed."""
    inputs = tmp_path / "inputs"
    write_tiny_inputs(inputs)

    def train(seeds: tuple[int, ...], out: str, engine: str) -> None:
        job = tiny_job(updates=8, validate_every=4, seeds=seeds, engine=engine)
        args = (inputs / "split.csv", inputs / "audio", None, inputs / "windows.csv")
        train_variant(job, *args, tmp_path / out, progress=False)

    train((3, 4), "together", engine)
    train((4,), "alone", "looped")
    for seed in (3, 4):
        _, config = load_trained(tmp_path / "together" / f"seed{seed}")
        assert config["training"]["seed"] == seed
        assert config["cuda_fp32_precision"] == {"matmul": "ieee", "conv": "ieee"}
    assert not (tmp_path / "together" / "checkpoint.pt").exists()
    together, _ = load_trained(tmp_path / "together" / "seed4")
    alone, _ = load_trained(tmp_path / "alone" / "seed4")
    if engine == "looped":
        files = ("model.pt", "config.json", "history.csv")
        for name in files:
            assert (tmp_path / "together/seed4" / name).read_bytes() == (
                tmp_path / "alone/seed4" / name
            ).read_bytes(), name
    assert _relative_difference(alone.state_dict(), together.state_dict()) < 1e-5


def test_auto_trains_looped_on_a_cpu_and_graphed_on_cuda():
    assert resolve_engine("auto", torch.device("cpu")) == "looped"
    assert resolve_engine("auto", torch.device("cuda")) == "graphed"
    assert resolve_engine("packed", torch.device("cpu")) == "packed"


def test_the_graphed_engine_is_refused_without_cuda_naming_the_setting():
    with pytest.raises(ValueError, match="training.engine 'graphed' needs a CUDA device"):
        resolve_engine("graphed", torch.device("cpu"))
    with pytest.raises(ValueError, match="training.engine 'fast'"):
        resolve_engine("fast", torch.device("cpu"))
