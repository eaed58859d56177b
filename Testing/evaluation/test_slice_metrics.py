"""Slice AUROC and F1 against hand-computed values (``IExplainLib.slice_metrics``, the one implementation), and the
slice CSV files of ``iexplain evaluate``."""

import numpy as np
import pytest

from IExplainLib.errors import InputError
from IExplainLib.evaluation.slice_files import paired_slices, read_slice_labels
from IExplainLib.slice_metrics import auroc, best_f1_threshold, slice_metrics


def test_auroc_matches_hand_count_of_pairs_with_ties():
    scores = [0.9, 0.8, 0.8, 0.3, 0.2]
    labels = [1, 1, 0, 1, 0]
    # positive/negative pairs: (0.9>0.8 1) (0.9>0.2 1) (0.8=0.8 0.5) (0.8>0.2 1) (0.3<0.8 0) (0.3>0.2 1) -> 4.5 / 6
    assert auroc(scores, labels) == pytest.approx(4.5 / 6)


def test_auroc_perfect_inverted_and_undefined():
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auroc([0.5, 0.6], [1, 1]) is None


def test_slice_f1_at_threshold():
    metrics = slice_metrics(np.array([0.9, 0.6, 0.4, 0.7, 0.1]), np.array([1, 1, 1, 0, 0]), threshold=0.5)
    assert (metrics["tp"], metrics["fp"], metrics["fn"]) == (2, 1, 1)
    assert metrics["f1"] == pytest.approx(4 / 6)
    assert metrics["slices"] == 5 and metrics["positives"] == 3
    assert metrics["sensitivity"] == pytest.approx(2 / 3) and metrics["ppv"] == pytest.approx(2 / 3)


def test_undefined_figures_are_none_not_zero():
    """One class only: AUROC undefined; nothing called positive and no PE slice: sensitivity, PPV and F1 undefined."""
    metrics = slice_metrics([0.1, 0.2], [0, 0], threshold=0.5)
    assert metrics["auroc"] is None
    assert (metrics["sensitivity"], metrics["ppv"], metrics["f1"]) == (None, None, None)


def test_scores_and_labels_of_different_length_are_refused():
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        slice_metrics([0.1, 0.2, 0.3], [0, 1])


def test_best_f1_threshold_is_a_midpoint_and_its_f1_is_slice_metrics_f1():
    scores, labels = [0.9, 0.8, 0.6, 0.3, 0.2], [1, 1, 0, 1, 0]
    threshold, f1 = best_f1_threshold(scores, labels)
    # cut below 0.3: TP 3, FP 1 -> F1 6/7 (beats 0.8/0.6 -> 4/5 and 0.9/0.8 -> 1/2)
    assert threshold == pytest.approx((0.3 + 0.2) / 2) and f1 == pytest.approx(6 / 7)
    assert slice_metrics(scores, labels, threshold)["f1"] == f1
    assert best_f1_threshold([0.4, 0.6], [0, 0]) == (0.5, 0.0)  # no PE slice: nothing to tune


def test_slice_csv_reading_and_mismatch_refused(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("slice_index,pe_present\n0,0\n1,1\n2,true\n")
    assert read_slice_labels(labels) == {0: 0.0, 1: 1.0, 2: 1.0}
    with pytest.raises(InputError, match="different slices"):
        paired_slices({0: 0.1, 1: 0.2}, {0: 0.0, 1: 1.0, 2: 1.0})
    bad = tmp_path / "bad.csv"
    bad.write_text("index,value\n0,1\n")
    with pytest.raises(InputError, match="slice_index"):
        read_slice_labels(bad)
