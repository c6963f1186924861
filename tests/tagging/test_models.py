"""A folder of seeds is an ensemble; seeds that disagree on their input are a usage error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.tagging.cli import main
from pipeline.tagging.inference import tag_files
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
