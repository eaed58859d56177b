"""FROC and per-calibre counts on scored candidates agree with strict matching of the kept candidates' mask."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib.evaluation.finding_metrics import score_mask, truth_instances
from IExplainLib.evaluation.froc import (ScoredStudy, best_f1_threshold, froc_curve, froc_points,
                                         sensitivity_by_calibre)


def _scene():
    """Three emboli; candidates: 1 covers embolus 1, 2 and 4 touch none, 3 lies inside embolus 2."""
    truth = np.zeros((8, 30, 30), np.uint8)
    truth[1:3, 2:6, 2:6] = 1
    truth[1:3, 10:13, 10:15] = 2
    truth[5:7, 20:24, 20:24] = 3
    labels = np.zeros_like(truth, dtype=np.int32)
    labels[1:3, 2:5, 2:5] = 1
    labels[1, 8:11, 3:8] = 2
    labels[2:3, 11:13, 11:14] = 3
    labels[6, 0:3, 25:29] = 4
    return truth, labels


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.75, 0.95])
def test_counts_equal_strict_matching_of_the_kept_mask(threshold):
    truth, labels = _scene()
    scores = np.array([0.9, 0.6, 0.3, 0.8])
    study = ScoredStudy.from_labels(labels, scores, truth, 3, ["lobar", "segmental", "central"])
    kept = np.isin(labels, np.flatnonzero(scores >= threshold) + 1)
    true_labels, count = truth_instances(truth, instances=True)
    assert study.counts(threshold) == score_mask(kept, true_labels, count).strict


def test_froc_points_best_threshold_and_calibres():
    truth, labels = _scene()
    study = ScoredStudy.from_labels(labels, np.array([0.9, 0.6, 0.3, 0.8]), truth, 3,
                                    ["lobar", "segmental", "central"])
    curve = froc_curve([study])
    assert curve[0][1:] == (0.0, 0.0) and curve[-1][2] == pytest.approx(2 / 3)
    points = froc_points([study], (0.5, 1.0, 2.0))
    assert points == {"0.5": pytest.approx(1 / 3), "1": pytest.approx(1 / 3), "2": pytest.approx(2 / 3)}
    threshold, counts = best_f1_threshold([study])
    assert (threshold, counts.tp, counts.fp, counts.fn) == (0.3, 2, 2, 1)  # F1 4/7, above 0.5 at 0.9
    table = sensitivity_by_calibre([study], 0.3)
    assert table["lobar"]["found"] == 1 and table["segmental"]["found"] == 1 and table["central"]["found"] == 0
