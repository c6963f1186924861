"""The mel-spectrogram of :mod:`pipeline.features.mel` in torch, so a GPU can compute it.

The same frames (``length`` samples every ``stride``, no padding), periodic Hann window,
zero-padding to ``min_n_fft``, Slaney filterbank (:func:`~pipeline.features.mel.mel_filterbank`
itself) and ``log(1 + C * x)``, on any torch device. Not ``torch.stft``: with a window shorter
than ``n_fft`` it takes ``n_fft`` samples per frame and centres the window in them, which are
other frames than the cache's.

In float64, as the numpy path: in float32 the FFT's rounding error, relative to a frame's loud
low bands, shifts the quiet top band of some frames by two float16 steps. In float64 every
float16 value the cache would hold is numpy's or one step away (a value that lies on a rounding
boundary; see tests/features/test_mel_torch.py): close, not bit for bit, so the pinned CPU
caches stay numpy's.
"""

from __future__ import annotations

import torch

from pipeline.constants import MEL_COMPRESSION_C
from pipeline.features.mel import mel_filterbank


def log_mel_spectrogram_torch(
    audio: torch.Tensor, length: int, stride: int, min_n_fft: int = 1024
) -> torch.Tensor:
    """Compressed mel-spectrogram, shape (frames, N_MELS), float64, on ``audio``'s device.

    ``audio`` is one clip, float in [-1, 1] or int16 (scaled by 1 / 32768).
    """
    audio = audio.to(torch.float64) / (32768.0 if audio.dtype == torch.int16 else 1.0)
    frames = audio.unfold(0, length, stride)
    n_fft = max(length, min_n_fft)
    window = torch.hann_window(length, periodic=True, dtype=torch.float64, device=audio.device)
    magnitude = torch.fft.rfft(frames * window, n=n_fft, dim=1).abs()
    bank = torch.from_numpy(mel_filterbank(n_fft)).to(audio.device, torch.float64)
    return torch.log1p(MEL_COMPRESSION_C * (magnitude @ bank.T))
