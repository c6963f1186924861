import pandas as pd
import pytest

from pipeline.features.windows import consecutive_windows, raw_window_samples


@pytest.mark.parametrize(
    ("length", "stride", "frames"),
    [(1024, 1024, 46), (1024, 512, 92), (512, 512, 93), (512, 256, 186), (256, 256, 187)],
)
def test_windows_respect_each_clips_real_length(length, stride, frames):
    clips = pd.DataFrame(
        {
            "clip_id": [1, 2, 3],
            "split": ["test", "test", "valid"],
            "count": [465_984, 465_600, 47_000],
        }
    )
    windows = consecutive_windows(clips, 48_000, length, stride)
    span = raw_window_samples(frames, length, stride)
    assert span <= 48_000
    for clip_id, count in zip(clips["clip_id"], clips["count"], strict=True):
        mine = windows[windows["clip_id"] == clip_id]
        assert (mine["start_sample"] + span <= count).all()
        assert (mine["start_frame"] == mine["window"] * frames).all()
        assert (mine["start_sample"] == mine["start_frame"] * stride).all()
        # no room left for one more whole window
        assert len(mine) == ((count - length) // stride + 1) // frames
    assert len(windows[windows["clip_id"] == 1]) >= 9
