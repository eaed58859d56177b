"""Cluster matching rules of the finding-level metric, on hand-built masks."""

import numpy as np
import pytest

from IExplainLib.evaluation.finding_metrics import FindingCounts, is_instance_mask, match_findings, pooled


def blank(shape=(6, 20, 20)):
    return np.zeros(shape, dtype=np.uint8)


def test_intersecting_clusters_match_and_disjoint_ones_do_not():
    truth, prediction = blank(), blank()
    truth[1:3, 2:5, 2:5] = 1        # PE A, found (one shared voxel is enough)
    truth[1:3, 12:15, 12:15] = 1    # PE B, missed
    prediction[2:4, 4:7, 4:7] = 1   # touches A at (2, 4, 4)
    prediction[4:6, 2:4, 15:18] = 1  # touches nothing
    counts = match_findings(prediction, truth)
    assert counts == FindingCounts(tp=1, fp=1, fn=1)
    assert counts.sensitivity == pytest.approx(0.5)
    assert counts.ppv == pytest.approx(0.5)
    assert counts.f1 == pytest.approx(0.5)


def test_diagonal_touch_is_one_cluster_26_connected():
    prediction, truth = blank(), blank()
    prediction[1, 1, 1] = prediction[2, 2, 2] = 1  # corner-touching voxels: one cluster, not two
    truth[1, 1, 1] = 1
    assert match_findings(prediction, truth) == FindingCounts(tp=1, fp=0, fn=0)


def test_one_prediction_touching_two_truths_finds_both():
    truth, prediction = blank(), blank()
    truth[2, 2:4, 2:4] = 1
    truth[2, 2:4, 10:12] = 1
    prediction[2, 3, 2:12] = 1  # one bar across both emboli
    counts = match_findings(prediction, truth)
    assert counts == FindingCounts(tp=2, fp=0, fn=0)
    assert counts.f1 == 1.0


def test_two_predictions_on_one_truth_are_one_tp_and_no_fp():
    truth, prediction = blank(), blank()
    truth[2, 2:10, 2:10] = 1
    prediction[2, 2, 2] = 1
    prediction[2, 9, 9] = 1
    assert match_findings(prediction, truth) == FindingCounts(tp=1, fp=0, fn=0)


def test_instance_truth_keeps_touching_emboli_apart_but_binary_truth_merges_them():
    instances = blank()
    instances[2, 2:4, 2:6] = 1
    instances[2, 4:6, 2:6] = 2   # touches instance 1: still a second embolus
    instances[4, 10:12, 10:12] = 7  # ids need not be consecutive
    prediction = blank()
    prediction[2, 2, 2] = 1       # finds instance 1 only
    assert is_instance_mask(instances)
    assert match_findings(prediction, instances) == FindingCounts(tp=1, fp=0, fn=2)
    # the same voxels as a 0/1 mask: two connected components (1+2 merged, 7)
    binary = (instances > 0).astype(np.uint8)
    assert not is_instance_mask(binary)
    assert match_findings(prediction, binary) == FindingCounts(tp=1, fp=0, fn=1)
    # forcing the reading either way
    assert match_findings(prediction, instances, truth_as_instances=False) == FindingCounts(tp=1, fp=0, fn=1)


def test_empty_prediction_counts_every_pe_missed_and_ppv_undefined():
    truth = blank()
    truth[1, 1:3, 1:3] = 1
    truth[4, 8:10, 8:10] = 1
    counts = match_findings(blank(), truth)
    assert counts == FindingCounts(tp=0, fp=0, fn=2)
    assert counts.sensitivity == 0.0 and counts.ppv is None and counts.f1 == 0.0


def test_empty_truth_counts_every_cluster_false_and_sensitivity_undefined():
    prediction = blank()
    prediction[1, 1:3, 1:3] = 1
    counts = match_findings(prediction, blank())
    assert counts == FindingCounts(tp=0, fp=1, fn=0)
    assert counts.sensitivity is None and counts.ppv == 0.0 and counts.f1 == 0.0
    nothing = match_findings(blank(), blank())
    assert nothing == FindingCounts() and nothing.f1 is None


def test_multi_segment_prediction_is_pooled_as_a_union():
    truth, prediction = blank(), blank()
    truth[2, 2:6, 2:6] = 1
    prediction[2, 2:4, 2:6] = 1
    prediction[2, 4:6, 2:6] = 2  # iteration 2's segment, adjacent: one cluster
    assert match_findings(prediction, truth) == FindingCounts(tp=1, fp=0, fn=0)


def test_pooling_sums_counts_before_ratios():
    total = pooled([FindingCounts(3, 0, 1), FindingCounts(0, 2, 0), FindingCounts(1, 1, 1)])
    assert total == FindingCounts(4, 3, 2)
    assert total.f1 == pytest.approx(8 / 13)
    assert total.as_dict()["sensitivity"] == pytest.approx(4 / 6)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        match_findings(blank((2, 4, 4)), blank((2, 4, 5)))
