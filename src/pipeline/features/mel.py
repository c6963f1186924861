"""Mel-spectrograms with the paper's dynamic range compression ``log(1 + C * x)``.

Frames are taken without padding, ``length`` samples every ``stride`` samples, so a mel
frame covers exactly the samples one step of the raw-audio model's strided convolution
sees. Frames shorter than ``min_n_fft`` are zero-padded before the FFT: with 256-sample
frames a 129-bin spectrum cannot feed 128 mel bands without leaving some bands empty.
The filterbank is Slaney's (linear below 1 kHz, logarithmic above, area-normalised), the
same as librosa's default.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pipeline.constants import MEL_COMPRESSION_C, N_MELS, SAMPLE_RATE

_F_SP = 200.0 / 3  # Slaney: Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_part = hz >= _MIN_LOG_HZ
    mel[log_part] = _MIN_LOG_MEL + np.log(hz[log_part] / _MIN_LOG_HZ) / _LOG_STEP
    return mel


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * _F_SP
    log_part = mel >= _MIN_LOG_MEL
    hz[log_part] = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel[log_part] - _MIN_LOG_MEL))
    return hz


@lru_cache(maxsize=8)
def mel_filterbank(n_fft: int, n_mels: int = N_MELS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular, area-normalised mel filters, shape (n_mels, n_fft // 2 + 1), float32."""
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges_hz = mel_to_hz(np.linspace(0.0, hz_to_mel(np.array([sample_rate / 2.0]))[0], n_mels + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - bin_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def n_frames(n_samples: int, length: int, stride: int) -> int:
    """Frames of ``length`` samples every ``stride`` samples that fit, without padding."""
    return 0 if n_samples < length else 1 + (n_samples - length) // stride


def log_mel_spectrogram(
    audio: np.ndarray, length: int, stride: int, min_n_fft: int = 1024
) -> np.ndarray:
    """Compressed mel-spectrogram, shape (frames, N_MELS), float32.

    ``audio`` is float in [-1, 1] (int16 is scaled). Magnitudes of a Hann-windowed FFT go
    through the mel filters, then ``log(1 + C * x)`` with C = 10,000 (paper, section 4.2).

    Computed in float64 although the cache keeps float16: numpy and OpenBLAS pick SIMD kernels
    by CPU, and float32 results that differ in their last bit round to different float16
    values about once in 10,000. In float64 the kernels still differ, but by ~1e-16, which
    practically never reaches a float16 (or float32) rounding boundary, so the cache is the same
    on every CPU (tests/repro/test_portability.py builds it under other kernels).
    """
    if audio.dtype == np.int16:
        audio = audio.astype(np.float64) / 32768.0
    frames = sliding_window_view(np.asarray(audio, dtype=np.float64), length)[::stride]
    n_fft = max(length, min_n_fft)
    window = np.hanning(length + 1)[:-1]  # periodic Hann
    magnitude = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=1))
    mel = magnitude @ mel_filterbank(n_fft).T.astype(np.float64)
    return np.log1p(MEL_COMPRESSION_C * mel).astype(np.float32)
