import numpy as np
import pytest

from pipeline.metrics import average_windows, mean_auc, per_tag_auc


def test_average_windows_per_clip():
    ids, scores = average_windows(
        np.array([7, 3, 7, 3, 3]), np.array([[1.0], [0.0], [0.0], [0.3], [0.6]])
    )
    assert ids.tolist() == [3, 7]
    assert np.allclose(scores[:, 0], [0.3, 0.5])


def test_hand_checked_auc_and_excluded_tags():
    # tag a: positives 0.9, 0.4; negatives 0.5, 0.1
    # -> pairs 0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1: AUC = 3/4
    labels = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1], [0, 0, 1]])
    scores = np.array([[0.9, 0.2, 0.1], [0.4, 0.3, 0.2], [0.5, 0.1, 0.3], [0.1, 0.5, 0.4]])
    table = per_tag_auc(labels, scores, ["a", "b", "c"])
    assert table.loc[0, "auc"] == pytest.approx(0.75)
    assert table["excluded"].tolist() == [False, True, True]
    assert mean_auc(table) == pytest.approx(0.75)
