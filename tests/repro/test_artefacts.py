"""Pinned artefacts: an output matches only its pinned hash (without DVC)."""

from __future__ import annotations

from pipeline.repro.artefacts import OutputCheck

# --- OutputCheck, without DVC -----------------------------------------------------------------


def test_an_output_matches_only_its_pinned_hash():
    assert OutputCheck("split", "s.csv", "abc", "abc").matches
    assert not OutputCheck("split", "s.csv", "abc", "abd").matches
    assert OutputCheck("split", "s.csv", "abc", None).problem == "missing"
    assert OutputCheck("table1", "t.csv", None, "abc").problem == "not pinned in dvc.lock"
