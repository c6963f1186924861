"""The throughput benchmarks run on the CPU (asked for, so on a GPU host too) and write their
reports (numbers not asserted: a benchmark measures, a test only checks that it can)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from pipeline import determinism
from tests.conftest import REPO, tool_env


def _run(script: str, *args: str, out) -> dict:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args, "--out", str(out)],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stem = script.removesuffix(".py")
    assert (out / f"{stem}.md").read_text().startswith("# ")
    return json.loads((out / f"{stem}.json").read_text())


def test_train_throughput_measures_every_cpu_path_and_projects_the_paper_profile(tmp_path):
    """On the CPU explicitly: `--device auto` would take a GPU host's CUDA paths, whose rows
    and skips differ (the graphed and concurrent paths run there)."""
    report = _run("train_throughput.py", "--quick", "--device", "cpu", out=tmp_path)
    assert report["machine"]["device_type"] == "cpu"
    paths = ("single", "looped", "packed", "packed_resident")
    assert {row["path"] for row in report["rows"]} == set(paths)
    assert all(row["model_updates_per_s"] > 0 for row in report["rows"])
    projection = report["projection"]
    assert projection["model_updates"] == 18 * 3 * 5_000_000  # params.yaml's grid, paper profile
    assert all(projection["paths"][path]["hours"] > 0 for path in paths)
    assert set(report["skipped"]) == {"graphed", "concurrent"}  # CUDA only, with the reason
    assert "CUDA" in report["skipped"]["graphed"]


def test_prep_throughput_times_decoding_against_every_cache(tmp_path):
    report = _run("prep_throughput.py", "--clips", "2", "--workers", "1", out=tmp_path)
    [run] = report["runs"]
    assert run["clips"] == 2
    assert 0 < run["decode_s_per_clip"] < run["full_s_per_clip"]
    assert run["ratio_full_to_decode"] == pytest.approx(
        run["full_s_per_clip"] / run["decode_s_per_clip"], rel=0.01
    )


def _load_benchmark(name: str, monkeypatch: pytest.MonkeyPatch):
    """A benchmark script as a module (they are scripts, not a package), registered for the
    test only (its dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_the_train_benchmark_chooses_its_device_before_pinning_cpu_kernels(monkeypatch, capsys):
    """`--device cuda:1` where the CPU's kernels cannot be pinned: noted, and the run goes on
    on the device, made current (as training does); on the CPU the same is an error. CUDA
    and a CPU without AVX2 are stood in for."""
    bench = _load_benchmark("train_throughput", monkeypatch)

    def cannot_pin() -> None:
        raise determinism.NumericsError("portable numerics need ATen's AVX2 kernels")

    made_current = []
    monkeypatch.setattr(determinism, "_pin_cpu_kernels", cannot_pin)
    monkeypatch.setattr(bench, "select_device", lambda requested, setting: torch.device(requested))
    monkeypatch.setattr(bench, "use_device", lambda device, setting: made_current.append(device))
    assert bench.setup_device("cuda:1", "portable", 1) == torch.device("cuda:1")
    assert made_current == [torch.device("cuda:1")]
    assert "note: CPU kernels not pinned" in capsys.readouterr().err
    with pytest.raises(determinism.NumericsError, match="AVX2"):
        bench.setup_device("cpu", "portable", 1)


def test_tag_throughput_times_tag_files_also_after_other_torch_work(tmp_path):
    """In params.yaml's numerics, set before the first tensor operation; the last figure is
    tag_files in a process whose kernels are not the model's (a fresh worker tags)."""
    report = _run(
        "tag_throughput.py", "--minutes", "0.1", "--repeats", "1", "--variants",
        "spectrogram_512_256", out=tmp_path,
    )  # fmt: skip
    assert report["settings"]["numerics"] == "portable"
    [model] = report["models"]
    assert model["variant"] == "spectrogram_512_256" and model["windows"] == 2
    stages = ("features", "network", "inference", "end_to_end_wav", "after_torch_work_wav")
    assert all(model[stage]["x_real_time"] > 0 for stage in stages)
    assert model["after_torch_work_wav"]["best_s"] > model["end_to_end_wav"]["best_s"]
