"""Decode any audio file soundfile reads into 16 kHz mono, and say why a clip is unusable.

Stereo (or more channels) is averaged to mono; other sample rates are converted with a
polyphase resampler (scipy's ``resample_poly``, Kaiser-windowed FIR anti-aliasing).
A clip is rejected with a short reason, never a crash: ``missing``, ``empty`` (0 bytes),
``undecodable``, ``truncated`` (an mp3 whose last frame runs past the end of the file) or
``too short`` (fewer samples than one input window).
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.constants import SAMPLE_RATE


class UnusableAudio(Exception):
    """A clip that cannot be used; ``reason`` is one short word or phrase for skipped.csv."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


def to_mono_16k(data: np.ndarray, sample_rate: int) -> np.ndarray:
    """Average channels and resample to 16 kHz; returns float32 in [-1, 1]."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if sample_rate != SAMPLE_RATE:
        from scipy.signal import resample_poly  # imported here: most clips are already 16 kHz

        common = gcd(int(sample_rate), SAMPLE_RATE)
        data = resample_poly(data, SAMPLE_RATE // common, int(sample_rate) // common)
        data = data.astype(np.float32)
    return data


_MPEG_BITRATES = {  # kbit/s by (version is MPEG-1, layer), index 0-14
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(header: int) -> int | None:
    """Bytes in the MPEG audio frame starting with this 32-bit header, or None if not a header."""
    if header >> 21 != 0x7FF:
        return None
    version = (header >> 19) & 3
    layer = 4 - ((header >> 17) & 3)
    bitrate_index = (header >> 12) & 15
    rate_index = (header >> 10) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (header >> 9) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def mp3_is_truncated(path: str | Path) -> bool:
    """True when the file's last MPEG frame runs past the end of the file (a cut download).

    A cut that falls exactly on a frame boundary cannot be seen this way; such a clip is
    still caught by the ``too short`` rule when it loses more than all but one window.
    """
    data = Path(path).read_bytes()
    position = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # skip an ID3v2 tag (syncsafe size)
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        position = 10 + size
    while position + 4 <= len(data):  # find the first frame header
        if _mpeg_frame_length(int.from_bytes(data[position : position + 4], "big")):
            break
        position += 1
    while position + 4 <= len(data):
        length = _mpeg_frame_length(int.from_bytes(data[position : position + 4], "big"))
        if not length:
            return False  # a trailing tag or junk: nothing left that claims to be audio
        if position + length > len(data):
            return True
        position += length
    return False


def decode_clip(path: str | Path, min_samples: int = 1) -> np.ndarray:
    """Decode a clip to 16 kHz mono float32, or raise :class:`UnusableAudio` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise UnusableAudio(path, "missing")
    if path.stat().st_size == 0:
        raise UnusableAudio(path, "empty")
    if path.suffix.lower() == ".mp3" and mp3_is_truncated(path):
        raise UnusableAudio(path, "truncated", "last mp3 frame runs past the end of the file")
    try:
        data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        raise UnusableAudio(path, "undecodable", str(error).splitlines()[0]) from error
    audio = to_mono_16k(data, sample_rate)
    if audio.size == 0:
        raise UnusableAudio(path, "empty", "no audio samples decoded")
    if not np.isfinite(audio).all():
        raise UnusableAudio(path, "undecodable", "non-finite samples")
    if audio.size < min_samples:
        raise UnusableAudio(
            path, "too short", f"{audio.size} samples < one window of {min_samples}"
        )
    return audio


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16, clipping (the cache's storage type: half the bytes)."""
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
