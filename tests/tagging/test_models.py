"""A folder of seeds is an ensemble; seeds that disagree on their input are a usage error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.tagging.cli import main
from pipeline.tagging.inference import tag_files
from pipeline.tagging.models import UsageError, load_model
from tests.tagging.helpers import FRAMES, make_model_dir, write_audio


def test_a_folder_of_seeds_is_averaged(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """models/<dataset>/<variant>/seed<N>/ as training writes it: the seeds form an ensemble."""
    variant = tmp_path / "spectrogram_256_256"
    seeds = [make_model_dir(variant / f"seed{seed}", seed=seed) for seed in (1, 2)]
    clip = write_audio(tmp_path / "clip.wav", 1.5)
    [ensemble] = tag_files(variant, [clip], device="cpu")
    singles = [tag_files(seed, [clip], device="cpu")[0] for seed in seeds]
    np.testing.assert_allclose(
        ensemble.window_probabilities,
        (singles[0].window_probabilities + singles[1].window_probabilities) / 2,
        atol=1e-6,
    )

    make_model_dir(variant / "seed3", seed=3, frames=FRAMES + 4)  # a different window
    assert main(["--model", str(variant), str(clip)]) == 2
    assert (
        "differs from the first model in window_frames, window_samples" in capsys.readouterr().err
    )


@pytest.mark.parametrize("seed", [0, 17, 54, 62])  # UnpicklingError, IndexError, Unicode..., Key...
def test_random_bytes_as_model_pt_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, seed: int
) -> None:
    model_dir = make_model_dir(tmp_path / "model")
    (model_dir / "model.pt").write_bytes(np.random.default_rng(seed).bytes(1024))
    clip = write_audio(tmp_path / "clip.wav", 1.5)
    assert main(["--model", str(model_dir), str(clip)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {model_dir / 'model.pt'}: not a trained model ")
    assert err.count("\n") == 1


def test_a_state_dict_of_the_wrong_shapes_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model_dir = make_model_dir(tmp_path / "model")
    state = torch.load(model_dir / "model.pt", weights_only=True)
    torch.save({name: torch.zeros(3, 3) for name in state}, model_dir / "model.pt")
    clip = write_audio(tmp_path / "clip.wav", 1.5)
    assert main(["--model", str(model_dir), str(clip)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {model_dir / 'model.pt'}: not a trained model ")
    assert "size mismatch" in err and err.count("\n") == 1
    with pytest.raises(UsageError, match="RuntimeError: Error"):
        load_model(model_dir)
