"""Pinned artefacts: an output matches only its pinned hash (without DVC)."""

from __future__ import annotations

from pipeline.repro.artefacts import OutputCheck

# --- OutputCheck, without DVC -----------------------------------------------------------------


def test_an_output_matches_only_its_pinned_hash():
    assert OutputCheck("split", "s.csv", "abc", "abc").matches
    assert not OutputCheck("split", "s.csv", "abc", "abd").matches
    assert OutputCheck("split", "s.csv", "abc", None).problem == "missing"
    assert OutputCheck("table1", "t.csv", None, "abc").problem == "not pinned in dvc.lock"


def test_a_mismatch_is_explained_by_the_numerics_setting(tmp_path):
    """verify's diagnosis of a mismatch: native numerics named; no reference is no crash."""
    from pipeline.repro.artefacts import _diagnose
    from tests.conftest import REPO

    params = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(params.replace("numerics: portable", "numerics: native"))
    assert any("numerics: native" in line for line in _diagnose(tmp_path))
