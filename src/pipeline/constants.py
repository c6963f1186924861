"""The one home of the audio and dataset constants shared by preparation, training, tagging."""

SAMPLE_RATE = 16_000
"""Every clip is decoded to, cached at and modelled at 16 kHz mono (MagnaTagATune's rate)."""

N_MELS = 128
"""Mel bands of the spectrogram front-end (paper, section 4.2)."""

MEL_COMPRESSION_C = 10_000.0
"""C in the dynamic range compression log(1 + C * x) (paper, section 4.2)."""

MIN_N_FFT_FULL_MEL = 343
"""The smallest FFT size whose spectrum leaves none of the N_MELS Slaney mel bands at
SAMPLE_RATE empty (342 leaves one, 256 leaves 13): an empty band is a constant input
channel, so ``audio.min_n_fft`` must be at least this. tests/test_validation.py recomputes it."""

MTAT_PARTS = tuple("0123456789abcdef")
"""MagnaTagATune's sixteen part folders, in order."""

PAPER_SPLIT = {**{p: "train" for p in "0123456789ab"}, "c": "valid", **{p: "test" for p in "def"}}
"""The paper's part split: the first 12 parts train, the 13th validates, the last 3 test."""

ANNOTATIONS_FILE = "annotations_final.csv"
CLIP_INFO_FILE = "clip_info_final.csv"
