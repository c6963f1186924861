"""tests/mutations.py's defects can all be planted in today's code: a defect whose original
text moved would otherwise stop being planted, and its tests stop being checked, unnoticed."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.mutations import DEFECTS, Defect, DefectError, select


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.name)
def test_each_defect_changes_its_file_and_names_tests_that_exist(defect: Defect):
    assert defect.planted() != (REPO / defect.file).read_text()
    for test in defect.tests:
        assert (REPO / test.split("::")[0]).is_file(), test


def test_a_defect_whose_text_is_gone_is_refused(tmp_path):
    moved = Defect("moved", "gone", "src/pipeline/stages.py", "no such text\n", "x", ("t",))
    (tmp_path / "src/pipeline").mkdir(parents=True)
    (tmp_path / "src/pipeline/stages.py").write_text("something else\n")
    with pytest.raises(DefectError, match="occurs 0 times"):
        moved.planted(tmp_path)
    (tmp_path / "src/pipeline/stages.py").write_text("no such text\n" * 2)
    with pytest.raises(DefectError, match="occurs 2 times"):
        moved.planted(tmp_path)


def test_names_are_unique_and_unknown_names_refused():
    names = [defect.name for defect in DEFECTS]
    assert len(names) == len(set(names))
    assert [d.name for d in select(["keep-last"], [])] == ["keep-last"]
    assert "keep-last" not in [d.name for d in select(None, ["keep-last"])]
    with pytest.raises(DefectError, match="unknown"):
        select(["no-such-defect"], [])
