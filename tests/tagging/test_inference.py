"""tag_files on a tiny untrained model: windows, their average, and a real MTAT clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.audio import decode_clip, to_int16
from pipeline.features.mel import log_mel_spectrogram
from pipeline.tagging import inference
from pipeline.tagging.inference import TagResult, tag_files
from pipeline.training.networks import build_model
from tests.conftest import REAL_CLIP
from tests.tagging.helpers import (
    FRAMES,
    LENGTH,
    STRIDE,
    TAGS,
    TINY,
    WINDOW,
    make_model_dir,
    write_audio,
)


def test_tags_a_file_top_n_sorted(spectrogram_dir: Path, tmp_path: Path) -> None:
    clip = write_audio(tmp_path / "clip.wav", 2.0)
    [result] = tag_files(spectrogram_dir, [clip], device="cpu")
    assert result.error is None
    assert sorted(tag for tag, _ in result.top(None)) == sorted(TAGS)
    assert all(0.0 <= p <= 1.0 for _, p in result.top(None))
    assert result.windows == (1 + (32000 - LENGTH) // STRIDE) // FRAMES == 7
    assert result.duration_s == pytest.approx(2.0)


def test_top_lists_the_most_probable_tags_first_ties_in_tag_order() -> None:
    probabilities = np.array([0.2, 0.9, 0.5, 0.9, 0.1])
    result = TagResult("clip.wav", TAGS, probabilities)
    assert result.top(3) == [("piano", 0.9), ("vocal", 0.9), ("quiet", 0.5)]
    assert [tag for tag, _ in result.top(None)] == ["piano", "vocal", "quiet", "rock", "drums"]
    assert TagResult("broken.wav", TAGS, error="empty").top(3) == []


def window_probabilities_by_hand(front_end: str, clip: Path, seed: int = 0) -> np.ndarray:
    """Each consecutive window's sigmoid outputs, computed without the tagging tool: the
    tiny model of make_model_dir (same seed) on windows cut by hand from the decoded clip,
    as the audio and mel caches would hold it."""
    torch.manual_seed(seed)
    model = build_model(front_end, LENGTH, STRIDE, FRAMES, len(TAGS), TINY).eval()
    audio = to_int16(decode_clip(clip))  # as the audio cache stores it
    mel = log_mel_spectrogram(audio, LENGTH, STRIDE, 1024).astype(np.float16)  # as the mel cache
    count = len(mel) // FRAMES
    if front_end == "spectrogram":
        windows = [mel[k * FRAMES : (k + 1) * FRAMES] for k in range(count)]
    else:
        windows = [audio[k * FRAMES * STRIDE : k * FRAMES * STRIDE + WINDOW] for k in range(count)]
    with torch.no_grad():
        each = [torch.sigmoid(model(torch.from_numpy(w[None]))).numpy()[0] for w in windows]
    return np.stack(each)


@pytest.mark.parametrize("front_end", ["spectrogram", "raw"])
def test_average_equals_mean_of_windows_by_hand(
    front_end: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunked features and batches split across files must not change a single window."""
    monkeypatch.setattr(inference, "FEATURE_CHUNK_WINDOWS", 2)
    model_dir = make_model_dir(tmp_path / "model", front_end)
    clips = [write_audio(tmp_path / "a.wav", 2.3), write_audio(tmp_path / "b.wav", 1.1)]
    results = tag_files(model_dir, clips, batch_size=3, device="cpu")
    for clip, result in zip(clips, results, strict=True):
        each = window_probabilities_by_hand(front_end, clip)
        assert result.windows == len(each) > 2
        np.testing.assert_allclose(result.window_probabilities, each, atol=1e-6)
        np.testing.assert_allclose(result.probabilities, each.mean(axis=0), atol=1e-6)


def test_real_mtat_clip(spectrogram_dir: Path) -> None:
    """A real 29.1 s MTAT mp3: every window's scores and their mean as computed by hand."""
    if not REAL_CLIP.is_file():
        pytest.skip(f"real MTAT clip {REAL_CLIP} is absent (it lives in ../shared/mtat)")
    [result] = tag_files(spectrogram_dir, [REAL_CLIP], device="cpu")
    assert result.error is None
    assert result.duration_s == pytest.approx(29.1, abs=0.1)
    assert result.windows == (1 + (len(decode_clip(REAL_CLIP)) - LENGTH) // STRIDE) // FRAMES
    each = window_probabilities_by_hand("spectrogram", REAL_CLIP)
    assert len(each) == result.windows
    # One window at a time by hand, the tool's windows in batches: CPU kernels round a batch
    # by its size (about 1e-6 here, on 565 values); a wrong window or clip is off by ~0.1.
    np.testing.assert_allclose(result.window_probabilities, each, atol=1e-5)
    np.testing.assert_allclose(result.probabilities, each.mean(axis=0), atol=1e-5)
    assert np.ptp(result.probabilities) > 0, "an untrained model still tells its tags apart"
