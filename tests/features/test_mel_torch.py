import numpy as np
import pytest
import torch

from pipeline.data.audio import to_int16
from pipeline.data.synth import generate_clip
from pipeline.features.mel import log_mel_spectrogram
from pipeline.features.mel_torch import log_mel_spectrogram_torch

PAIRS = [(1024, 1024), (1024, 512), (512, 512), (512, 256), (256, 256)]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def clip():
    """A synthetic music clip (29.1 s) with a second of silence, as the int16 cache holds it."""
    audio, _ = generate_clip(np.random.default_rng([2014, 0]))
    audio[16_000:32_000] = 0.0
    return to_int16(audio)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("length", "stride"), PAIRS)
def test_equals_the_numpy_mel_within_float16_rounding(clip, length, stride, device):
    """Every float16 value the cache would hold is the numpy path's or one float16 step away."""
    ours = log_mel_spectrogram_torch(torch.from_numpy(clip).to(device), length, stride)
    ours = ours.cpu().numpy().astype(np.float16)
    reference = log_mel_spectrogram(clip, length, stride).astype(np.float16)
    assert ours.shape == reference.shape
    step = np.spacing(np.maximum(np.abs(ours), np.abs(reference)))
    assert (np.abs(ours.astype(np.float32) - reference.astype(np.float32)) <= step).all()
    assert (ours == reference).mean() > 0.999


def test_float_and_int16_input_agree(clip):
    scaled = torch.from_numpy(clip / 32768.0)
    assert torch.equal(
        log_mel_spectrogram_torch(scaled, 512, 256),
        log_mel_spectrogram_torch(torch.from_numpy(clip), 512, 256),
    )
