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


def test_pr_auc_is_average_precision_per_tag():
    """Ranked 1, 0, 1, 0: precision 1/1 at the first positive, 2/3 at the second -> 5/6."""
    labels = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    scores = np.array([[0.9, 0.2], [0.8, 0.3], [0.3, 0.4], [0.1, 0.5]])
    table = per_tag_auc(labels, scores, ["a", "b"])
    assert table["pr_auc"].tolist() == pytest.approx([5 / 6, 1.0])
    assert mean_auc(table, "pr_auc") == pytest.approx((5 / 6 + 1.0) / 2)


def test_an_excluded_tag_has_neither_measure():
    labels = np.array([[1, 1], [0, 1]])
    table = per_tag_auc(labels, np.array([[0.9, 0.2], [0.1, 0.3]]), ["a", "b"])
    assert table["excluded"].tolist() == [False, True]
    assert np.isnan(table.loc[1, "auc"]) and np.isnan(table.loc[1, "pr_auc"])
    assert mean_auc(table, "pr_auc") == 1.0
