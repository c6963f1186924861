import numpy as np
import pytest
import soundfile as sf

from pipeline.data.audio import UnusableAudio, decode_clip, mp3_is_truncated, to_int16
from tests.conftest import write_tone


def test_real_clip_decodes_to_its_true_length(real_clip):
    audio = decode_clip(real_clip)
    assert audio.shape == (465_984,) and audio.dtype == np.float32
    assert not mp3_is_truncated(real_clip)


def test_truncated_mp3_is_detected(real_clip, tmp_path):
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(real_clip.read_bytes()[:70_001])
    with pytest.raises(UnusableAudio) as info:
        decode_clip(cut)
    assert info.value.reason == "truncated"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("this is not audio\n" * 20), "undecodable"),
        (lambda p: None, "missing"),
        (lambda p: write_tone(p, 1.0), "too short"),
    ],
)
def test_unusable_clips_give_a_reason(tmp_path, make, reason):
    path = tmp_path / "clip.mp3"
    make(path)
    with pytest.raises(UnusableAudio) as info:
        decode_clip(path, min_samples=48_000)
    assert info.value.reason == reason
    assert str(path) in str(info.value)


def test_stereo_44k_becomes_16k_mono(tmp_path):
    path = write_tone(tmp_path / "stereo.mp3", 4.0, frequency=1000.0, rate=44_100, channels=2)
    assert sf.info(path).channels == 2
    audio = decode_clip(path)
    assert abs(len(audio) - 4 * 16000) < 2000  # encoder padding only
    spectrum = np.abs(np.fft.rfft(audio[4000:36000]))
    peak_hz = np.argmax(spectrum) * 16000 / 32000
    assert abs(peak_hz - 1000) < 5


def test_wav_at_another_rate(tmp_path):
    path = write_tone(tmp_path / "x.wav", 2.0, rate=22_050, fmt="WAV")
    assert len(decode_clip(path)) == 32_000


def test_int16_conversion_clips():
    assert to_int16(np.array([0.0, 1.5, -2.0, 0.5], dtype=np.float32)).tolist() == [
        0,
        32767,
        -32768,
        16384,
    ]
