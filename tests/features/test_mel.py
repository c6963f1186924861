import numpy as np
import pytest

from pipeline.constants import MEL_COMPRESSION_C, N_MELS
from pipeline.features.mel import (
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    n_frames,
)


def test_mel_scale_round_trips_and_is_linear_below_1khz():
    hz = np.array([0.0, 200.0, 1000.0, 4000.0, 8000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(hz)), hz)
    assert np.isclose(hz_to_mel(np.array([500.0]))[0] * 2, hz_to_mel(np.array([1000.0]))[0])


@pytest.mark.parametrize("n_fft", [1024, 2048])
def test_no_empty_band_once_padded(n_fft):
    bank = mel_filterbank(n_fft)
    assert bank.shape == (N_MELS, n_fft // 2 + 1)
    assert (bank.sum(axis=1) > 0).all()


def test_unpadded_256_frames_would_leave_bands_empty():
    assert (mel_filterbank(256).sum(axis=1) == 0).any()


@pytest.mark.parametrize(
    ("length", "stride"), [(1024, 1024), (1024, 512), (512, 512), (512, 256), (256, 256)]
)
def test_frames_and_peak_band(length, stride):
    rate, frequency = 16000, 2000.0
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    mel = log_mel_spectrogram(tone, length, stride)
    assert mel.shape == (n_frames(len(tone), length, stride), N_MELS)
    centres = mel_to_hz(np.linspace(0, hz_to_mel(np.array([8000.0]))[0], N_MELS + 2))[1:-1]
    peak = centres[np.argmax(mel.mean(axis=0))]
    assert abs(peak - frequency) < 0.1 * frequency


def test_compression_is_log1p_of_c_times_mel():
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 4096).astype(np.float32)
    frame = audio[:1024] * np.hanning(1025)[:-1]
    magnitude = np.abs(np.fft.rfft(frame, 1024))
    expected = np.log1p(MEL_COMPRESSION_C * (mel_filterbank(1024) @ magnitude))
    assert np.allclose(log_mel_spectrogram(audio, 1024, 1024)[0], expected, rtol=1e-4)


def test_int16_input_is_scaled():
    audio = (np.random.default_rng(1).uniform(-0.5, 0.5, 4096) * 32768).astype(np.int16)
    assert np.allclose(
        log_mel_spectrogram(audio, 512, 512),
        log_mel_spectrogram(audio / 32768.0, 512, 512),
        atol=1e-4,
    )


# --- agreement with librosa, the field's reference implementation -----------------------------


@pytest.mark.parametrize("n_fft", [512, 1024, 2048])
def test_filterbank_equals_librosa_slaney(n_fft):
    librosa = pytest.importorskip("librosa", reason="librosa is a test dependency ([test])")
    reference = librosa.filters.mel(
        sr=16000, n_fft=n_fft, n_mels=N_MELS, fmin=0.0, fmax=8000.0, htk=False, norm="slaney"
    )
    ours = mel_filterbank(n_fft)
    assert ours.shape == reference.shape
    scale = np.abs(reference).max()
    assert np.abs(ours - reference).max() <= 2e-7 * scale  # measured: 8.8e-8


@pytest.mark.parametrize(("length", "stride"), [(1024, 512), (1024, 1024), (2048, 512)])
def test_log_mel_equals_librosa_when_the_frame_is_the_fft(length, stride):
    """Frames of exactly n_fft samples, no centring, magnitude (power 1), then log(1 + C x)."""
    librosa = pytest.importorskip("librosa", reason="librosa is a test dependency ([test])")
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )
    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=16000,
        n_fft=length,
        hop_length=stride,
        win_length=length,
        window="hann",
        center=False,
        power=1.0,
        n_mels=N_MELS,
        htk=False,
        norm="slaney",
    )
    reference = np.log1p(MEL_COMPRESSION_C * mel.T)
    ours = log_mel_spectrogram(audio, length, stride, min_n_fft=length)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-5  # measured: 9.5e-7
