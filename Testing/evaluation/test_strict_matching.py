"""Strict finding matching and voxel Dice on hand-built masks: a vessel-sized cluster touching a clot is a TP for the
paper's intersection rule and an FP for the strict one."""

import numpy as np
import pytest

from IExplainLib.evaluation.finding_metrics import (FindingCounts, VoxelOverlap, match_findings,
                                                    match_findings_strict, score_mask, truth_instances,
                                                    voxel_overlap)


def _clot_and_vessel():
    """Truth: one 2x2x2 clot (8 voxels). Prediction: a 4x10x10 'vessel' block (400 voxels) holding 2 clot voxels."""
    truth = np.zeros((12, 24, 24), np.uint8)
    truth[4:6, 10:12, 10:12] = 1
    vessel = np.zeros_like(truth)
    vessel[2:6, 1:11, 1:11] = 1  # overlaps the clot in z 4-5, y 10, x 10: 2 voxels
    return truth, vessel


def test_a_vessel_touching_a_clot_passes_intersection_but_not_strict_matching():
    truth, vessel = _clot_and_vessel()
    assert int((vessel & truth).sum()) == 2 and int(vessel.sum()) == 400
    assert match_findings(vessel, truth) == FindingCounts(tp=1, fp=0, fn=0)
    assert match_findings_strict(vessel, truth, 0.10) == FindingCounts(tp=0, fp=1, fn=1)
    overlap = voxel_overlap(vessel, truth)
    assert overlap == VoxelOverlap(intersection=2, predicted=400, truth=8)
    assert overlap.dice == pytest.approx(4 / 408, abs=0)  # 2 |P & T| / (|P| + |T|), exactly


def test_the_clot_itself_is_a_hit_for_both_rules_with_dice_one():
    truth, _ = _clot_and_vessel()
    assert match_findings(truth, truth) == match_findings_strict(truth, truth) == FindingCounts(1, 0, 0)
    assert voxel_overlap(truth, truth).dice == 1.0


def test_the_share_is_inclusive_at_ten_percent():
    truth = np.zeros((4, 20, 20), np.uint8)
    truth[1, 0, 0:10] = 1                      # 10 clot voxels
    finding = np.zeros_like(truth)
    finding[1, 0:10, 0:10] = 1                 # 100 voxels, 10 of them clot: exactly 10%
    assert match_findings_strict(finding, truth, 0.10) == FindingCounts(1, 0, 0)
    finding[1, 0, 9] = 0
    finding[2, 0:1, 0:1] = 1                   # still 100 voxels, now 9 of them clot
    assert int(finding.sum()) == 100 and int((finding & truth).sum()) == 9
    assert match_findings_strict(finding, truth, 0.10) == FindingCounts(0, 1, 1)
    assert match_findings(finding, truth) == FindingCounts(1, 0, 0)


def test_two_findings_on_one_clot_and_a_distant_one():
    truth = np.zeros((8, 30, 30), np.uint8)
    truth[2:4, 2:4, 2:4] = 1                   # embolus 1 (8 voxels)
    truth[2:4, 20:22, 20:22] = 2               # embolus 2, an instance id
    prediction = np.zeros_like(truth)
    prediction[2:4, 2:4, 2:4] = 1              # the clot itself (8 voxels) ...
    prediction[2:4, 2:4, 4:24] = 1             # ... continued by 80 voxels of 'vessel': one cluster, 8/88 = 9% clot
    prediction[6, 25:28, 25:28] = 1            # far from both emboli
    assert match_findings(prediction, truth) == FindingCounts(tp=1, fp=1, fn=1)
    assert match_findings_strict(prediction, truth, 0.10) == FindingCounts(tp=0, fp=2, fn=2)
    assert match_findings_strict(prediction, truth, 0.09) == FindingCounts(tp=1, fp=1, fn=1)
    prediction[2:4, 2:4, 4] = 0                # cut them apart: the clot-only piece qualifies on its own
    assert match_findings_strict(prediction, truth, 0.10) == FindingCounts(tp=1, fp=2, fn=1)
    assert match_findings(prediction, truth) == FindingCounts(tp=1, fp=2, fn=1)


def test_a_vanishing_share_is_the_papers_rule_and_score_mask_agrees():
    rng = np.random.default_rng(4)
    truth = (rng.random((10, 30, 30)) > 0.97).astype(np.uint8)
    prediction = (rng.random((10, 30, 30)) > 0.95).astype(np.uint8)
    labels, count = truth_instances(truth)
    score = score_mask(prediction, labels, count, 1e-6)
    assert score.intersection == score.strict == match_findings(prediction, truth)
    strict = score_mask(prediction, labels, count, 0.5)
    assert strict.intersection == score.intersection
    assert strict.strict == match_findings_strict(prediction, truth, 0.5)
    assert strict.strict.tp <= strict.intersection.tp and strict.strict.fp >= strict.intersection.fp
    assert strict.voxels == voxel_overlap(prediction, truth)
    assert (strict + strict).voxels.dice == strict.voxels.dice  # pooled Dice sums voxel counts first


def test_empty_masks_and_bad_share():
    empty = np.zeros((3, 5, 5), np.uint8)
    assert voxel_overlap(empty, empty).dice is None
    assert match_findings_strict(empty, empty) == FindingCounts(0, 0, 0)
    with pytest.raises(ValueError):
        match_findings_strict(empty, empty, 0.0)
