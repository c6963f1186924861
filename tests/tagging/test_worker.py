"""tag_files after other torch work: the process's kernels are no longer the model's, so a
fresh worker scores the files, to the same bits as a process that has the model's kernels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from pipeline.tagging.inference import tag_files
from tests.conftest import REPO, tool_env
from tests.tagging.helpers import make_model_dir, write_audio

TORCH_FIRST = """
import json, sys, torch
torch.ones(64, 64) @ torch.ones(64, 64)  # torch work first: its kernels are chosen now
from pipeline.tagging import tag_files
from pipeline.tagging.models import UsageError
try:
    results = tag_files(sys.argv[1], sys.argv[2:], device="cpu")
except UsageError as error:
    print(json.dumps({"usage_error": str(error)}))
else:
    [native] = tag_files(sys.argv[1], sys.argv[2:3], device="cpu", numerics="native")
    print(json.dumps({
        "capability": torch.backends.cpu.get_cpu_capability(),
        "results": [[r.path, r.error, None if r.error else r.window_probabilities.tobytes().hex()]
                    for r in results],
        "native": native.window_probabilities.tobytes().hex(),
    }))
"""


def _portable(model_dir: Path) -> Path:
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "numerics": "portable"}))
    return model_dir


def _tag_after_torch_work(model_dir: Path, *files: Path) -> tuple[dict, str]:
    """tag_files in a fresh interpreter whose first tensor operation ran on ATen's plain
    kernels (so on any CPU it can no longer have the portable AVX2 ones)."""
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FIRST, str(model_dir), *map(str, files)],
        cwd=REPO,
        env=tool_env(ATEN_CPU_CAPABILITY="default"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


def test_tag_files_after_a_torch_operation_gives_the_portable_scores(tmp_path):
    """Spectrogram and raw models, three files (one broken): the same per-window bytes as
    tag_files in this test process, whose kernels are the portable ones evaluation runs."""
    model_dir = _portable(make_model_dir(tmp_path / "model"))
    raw_dir = _portable(make_model_dir(tmp_path / "raw", front_end="raw", seed=1))
    clips = [write_audio(tmp_path / "a.wav", 1.0), write_audio(tmp_path / "b.mp3", 0.7, fmt="MP3")]
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio")
    for model in (model_dir, raw_dir):
        child, stderr = _tag_after_torch_work(model, *clips, broken)
        assert child["capability"] == "DEFAULT", "the caller kept its own kernels"
        assert "tagging in a fresh worker process with the model's portable numerics" in stderr
        here = tag_files(model, [*clips, broken], device="cpu")  # portable, as evaluation
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"
        assert [[r.path, r.error] for r in here] == [row[:2] for row in child["results"]]
        for result, (_, error, scores) in zip(here, child["results"], strict=True):
            if error is None:
                assert bytes.fromhex(scores) == result.window_probabilities.tobytes()
                assert np.isfinite(result.probabilities).all()
        assert [r.error is None for r in here] == [True, True, False]  # broken.mp3 last
        if model == model_dir:  # the comparison tells kernels apart: the caller's differ
            assert child["native"] != child["results"][0][2]


def test_a_usage_error_in_the_worker_reaches_the_caller(tmp_path):
    """The worker loads the model; a broken model.pt is reported as tag_files reports it."""
    model_dir = _portable(make_model_dir(tmp_path / "model"))
    (model_dir / "model.pt").write_bytes(b"not a state dict")
    child, _ = _tag_after_torch_work(model_dir, write_audio(tmp_path / "a.wav", 1.0))
    assert child["usage_error"].startswith(
        f"{model_dir / 'model.pt'}: not a trained model matching the config.json beside it"
    )
