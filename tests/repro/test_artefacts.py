"""Pinned artefacts: an output matches only its pinned hash (without DVC)."""

from __future__ import annotations

from pipeline.repro.artefacts import PORTABLE_STAGES, OutputCheck

# --- OutputCheck, without DVC -----------------------------------------------------------------


def test_an_output_matches_only_its_pinned_hash():
    assert OutputCheck("split", "s.csv", "abc", "abc").matches
    assert not OutputCheck("split", "s.csv", "abc", "abd").matches
    assert OutputCheck("split", "s.csv", "abc", None).problem == "missing"
    assert OutputCheck("table1", "t.csv", None, "abc").problem == "not pinned in dvc.lock"


def test_portable_stages_are_those_before_floating_point_features():
    assert OutputCheck("windows@512_256", "w.csv", "a", "a").portable
    assert not OutputCheck("mel_cache@512_256", "m.bin", "a", "a").portable
    assert not OutputCheck("train_raw@512_256-1", "model.pt", "a", "a").portable
    assert set(PORTABLE_STAGES) == {"synth", "audio_ready", "split", "decode_audio", "windows"}
