import subprocess
import sys

import numpy as np
import pytest

from pipeline.metrics import (
    average_precision,
    average_windows,
    mean_auc,
    mean_roc_auc,
    per_tag_auc,
    roc_auc_per_tag,
)
from tests.conftest import tool_env


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


def test_roc_auc_equals_scikit_learns_with_ties_and_undefined_tags():
    """The rank statistic is scikit-learn's area under the ROC curve, ties included."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(200):
        n, tags = int(rng.integers(2, 80)), int(rng.integers(1, 6))
        labels = rng.random((n, tags)) < rng.random()
        scores = np.round(rng.random((n, tags)), int(rng.integers(1, 4)))  # many ties
        ours = roc_auc_per_tag(labels, scores)
        for tag in range(tags):
            truth = labels[:, tag]
            if truth.all() or not truth.any():
                assert np.isnan(ours[tag])
                continue
            assert ours[tag] == pytest.approx(roc_auc_score(truth, scores[:, tag]), abs=1e-12)
            compared += 1
    assert compared > 300


def test_validation_and_evaluation_average_the_same_roc_aucs():
    rng = np.random.default_rng(1)
    labels, scores = rng.random((40, 7)) < 0.3, rng.random((40, 7))
    labels[:, 3] = False  # an excluded tag
    table = per_tag_auc(labels.astype(float), scores, list("abcdefg"))
    assert mean_roc_auc(labels, scores) == mean_auc(table)
    assert np.isnan(mean_roc_auc(np.zeros((3, 2), bool), np.ones((3, 2))))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_average_precision_is_scikit_learns_bit_for_bit(dtype):
    """The pinned metrics' PR-AUC bytes: scikit-learn's, ties, one positive, all positive and
    long lists (numpy's pairwise sum over more than 128 terms) included."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(2)
    for _ in range(400):
        n = int(rng.choice([2, 3, 7, 40, 130, 300, 1000]))
        truth = rng.random(n) < rng.random()
        truth[rng.integers(n)] = True  # the measure needs a positive
        decimals = int(rng.integers(1, 5))  # few decimals: many ties
        scores = np.round(rng.random(n), decimals).astype(dtype)
        ours = average_precision(truth, scores)
        theirs = float(average_precision_score(truth, scores))
        assert np.float64(ours).tobytes() == np.float64(theirs).tobytes(), (n, ours, theirs)


def test_evaluation_does_not_import_scikit_learn():
    """What makes every evaluation job ~1.4 s of CPU cheaper (src/pipeline/metrics.py)."""
    code = (
        "import sys, numpy as np\n"
        "from pipeline.evaluation import evaluate\n"
        "from pipeline.metrics import per_tag_auc\n"
        "per_tag_auc(np.eye(4, 2), np.random.default_rng(0).random((4, 2)), ['a', 'b'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=tool_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
