"""Slice AUROC and F1 against hand-computed values."""

import numpy as np
import pytest

from IExplainLib.errors import InputError
from IExplainLib.evaluation.slice_metrics import auroc, paired_slices, read_slice_labels, slice_metrics


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
