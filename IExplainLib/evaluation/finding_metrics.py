"""Finding-level detection metrics: the cluster matching of Pu et al. that the iExplain paper uses (section 3.4).

A predicted cluster and a true PE *match* when they share at least one voxel. Counting:

* TP = true PEs matched by at least one predicted cluster,
* FN = true PEs matched by none,
* FP = predicted clusters that touch no true PE.

So one large prediction covering two emboli counts two TPs and no FP, and two predictions on one embolus count one
TP and no FP: the metric scores *finding* emboli, not outlining them (the paper's truth is bounding boxes, where
voxel overlap would be meaningless). Predicted clusters are 26-connected components of the prediction (any non-zero
voxel; several segments are pooled). True PEs are the instances of an instance mask (labels 1..N, one id per
embolus, so two touching emboli stay two) or, for a binary mask, its 26-connected components.

Because one large cluster touching a clot counts as a detection, a contrast-filled vessel tree of 50,000 voxels that
grazes an embolus passes for a hit. Two stricter figures sit beside the paper's, for reporting:

* **strict matching** (:func:`match_labels_strict`): a predicted cluster *qualifies* only when at least ``min_share``
  (default 10%) of its voxels are embolus truth. TP = true PEs touched by a qualifying cluster, FN = the others,
  FP = clusters that do not qualify (touching a clot or not). As ``min_share`` falls to 0 it becomes the paper's rule.
* **voxel Dice** (:class:`VoxelOverlap`): ``2 |P & T| / (|P| + |T|)``, pooled over studies by summing the voxel
  counts first, like TP / FP / FN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detection_counts import FindingCounts, ratio_or_none
from ..findings import label_findings


def is_instance_mask(truth: np.ndarray) -> bool:
    """An integer mask with more than one distinct non-zero value is read as one id per embolus."""
    truth = np.asarray(truth)
    if not np.issubdtype(truth.dtype, np.integer) and not np.all(np.mod(truth, 1) == 0):
        return False
    values = np.unique(truth)
    return bool(np.count_nonzero(values) > 1)


def truth_instances(truth: np.ndarray, instances: bool | None = None) -> tuple[np.ndarray, int]:
    """``(labels, count)`` of true PEs: instance ids kept (renumbered 1..N) or connected components.

    ``instances``: True / False to force the reading, None to decide with :func:`is_instance_mask`.
    """
    truth = np.asarray(truth)
    if instances is None:
        instances = is_instance_mask(truth)
    if not instances:
        return label_findings(truth)
    values = np.unique(truth[truth > 0])
    if values.size == 0:
        return np.zeros(truth.shape, dtype=np.int32), 0
    # Renumber so that missing ids (an instance cropped away) do not count as missed emboli.
    lookup = np.zeros(int(values.max()) + 1, dtype=np.int32)
    lookup[values.astype(np.int64)] = np.arange(1, values.size + 1, dtype=np.int32)
    labels = np.where(truth > 0, lookup[np.clip(truth, 0, None).astype(np.int64)], 0).astype(np.int32)
    return labels, int(values.size)


def match_labels(predicted_labels: np.ndarray, predicted_count: int,
                 true_labels: np.ndarray, true_count: int) -> FindingCounts:
    """Counts from two labelled masks on the same grid (0 = background)."""
    if predicted_labels.shape != true_labels.shape:
        raise ValueError(f"prediction {predicted_labels.shape} and truth {true_labels.shape} differ in shape")
    overlap = (predicted_labels > 0) & (true_labels > 0)
    pairs = np.unique(np.stack([predicted_labels[overlap], true_labels[overlap]]), axis=1) \
        if overlap.any() else np.zeros((2, 0), dtype=np.int64)
    matched_predictions = np.unique(pairs[0]).size
    matched_truths = np.unique(pairs[1]).size
    return FindingCounts(tp=int(matched_truths), fp=int(predicted_count - matched_predictions),
                         fn=int(true_count - matched_truths))


def match_mask(prediction: np.ndarray, true_labels: np.ndarray, true_count: int) -> FindingCounts:
    """Counts of a prediction mask against truth already labelled (reused across many predictions)."""
    predicted_labels, predicted_count = label_findings(np.asarray(prediction) > 0)
    return match_labels(predicted_labels, predicted_count, true_labels, true_count)


def match_findings(prediction: np.ndarray, truth: np.ndarray, truth_as_instances: bool | None = None
                   ) -> FindingCounts:
    """Finding-level TP / FP / FN of a (z, y, x) prediction mask against the truth on the same grid."""
    prediction = np.asarray(prediction)
    truth = np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    true_labels, true_count = truth_instances(truth, truth_as_instances)
    return match_mask(prediction, true_labels, true_count)


def pooled(counts) -> FindingCounts:
    """Sum of per-study counts (the paper pools TP / FP / FN over studies before taking ratios)."""
    total = FindingCounts()
    for item in counts:
        total = total + item
    return total


STRICT_SHARE = 0.10  # the share of a finding's voxels that must be embolus for strict matching
_SHARE_TOLERANCE = 1e-9  # "at least 10%" must hold for 10 of 100 voxels despite binary floating point


def match_labels_strict(predicted_labels: np.ndarray, predicted_count: int, true_labels: np.ndarray,
                        true_count: int, min_share: float = STRICT_SHARE) -> FindingCounts:
    """Strict counts from two labelled masks: only clusters whose voxels are at least ``min_share`` embolus count."""
    if predicted_labels.shape != true_labels.shape:
        raise ValueError(f"prediction {predicted_labels.shape} and truth {true_labels.shape} differ in shape")
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"the strict share must lie in (0, 1], got {min_share}")
    sizes = np.bincount(predicted_labels.ravel(), minlength=predicted_count + 1)
    overlap = (predicted_labels > 0) & (true_labels > 0)
    embolus = np.bincount(predicted_labels[overlap], minlength=predicted_count + 1)
    qualifies = (embolus > 0) & (embolus >= (min_share - _SHARE_TOLERANCE) * sizes)
    qualifies[0] = False
    found = overlap & qualifies[predicted_labels]
    matched_truths = np.unique(true_labels[found]).size
    return FindingCounts(tp=int(matched_truths), fp=int(predicted_count - np.count_nonzero(qualifies)),
                         fn=int(true_count - matched_truths))


def match_findings_strict(prediction: np.ndarray, truth: np.ndarray, min_share: float = STRICT_SHARE,
                          truth_as_instances: bool | None = None) -> FindingCounts:
    """Strict finding-level TP / FP / FN of a (z, y, x) prediction mask against the truth on the same grid."""
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    true_labels, true_count = truth_instances(truth, truth_as_instances)
    predicted_labels, predicted_count = label_findings(prediction > 0)
    return match_labels_strict(predicted_labels, predicted_count, true_labels, true_count, min_share)


@dataclass(frozen=True)
class VoxelOverlap:
    """Voxel counts behind Dice: prediction & truth, prediction, truth; summed over studies with ``+``."""

    intersection: int = 0
    predicted: int = 0
    truth: int = 0

    def __add__(self, other: "VoxelOverlap") -> "VoxelOverlap":
        return VoxelOverlap(self.intersection + other.intersection, self.predicted + other.predicted,
                            self.truth + other.truth)

    @property
    def dice(self) -> float | None:
        """2 |P & T| / (|P| + |T|); None when both are empty."""
        return ratio_or_none(2 * self.intersection, self.predicted + self.truth)

    def as_dict(self) -> dict:
        return {"intersection_voxels": self.intersection, "predicted_voxels": self.predicted,
                "truth_voxels": self.truth, "dice": self.dice}


def voxel_overlap(prediction: np.ndarray, truth: np.ndarray) -> VoxelOverlap:
    """Voxel counts of two masks on the same grid (any non-zero voxel is foreground)."""
    prediction, truth = np.asarray(prediction) > 0, np.asarray(truth) > 0
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    return VoxelOverlap(int(np.count_nonzero(prediction & truth)), int(np.count_nonzero(prediction)),
                        int(np.count_nonzero(truth)))


@dataclass(frozen=True)
class FindingScore:
    """A mask scored three ways: the paper's intersection matching, strict matching and voxel overlap (Dice);
    ``findings`` = predicted clusters. Summed over studies with ``+`` (pooled, as the paper pools)."""

    intersection: FindingCounts = FindingCounts()
    strict: FindingCounts = FindingCounts()
    voxels: VoxelOverlap = VoxelOverlap()
    findings: int = 0

    def __add__(self, other: "FindingScore") -> "FindingScore":
        return FindingScore(self.intersection + other.intersection, self.strict + other.strict,
                            self.voxels + other.voxels, self.findings + other.findings)

    def as_dict(self) -> dict:
        return {"intersection": self.intersection.as_dict(), "strict": self.strict.as_dict(),
                **self.voxels.as_dict(), "findings": self.findings}


def score_mask(prediction: np.ndarray, true_labels: np.ndarray, true_count: int,
               min_share: float = STRICT_SHARE) -> FindingScore:
    """Both matchings and the voxel overlap of one prediction against truth already labelled (labels it once)."""
    predicted_labels, predicted_count = label_findings(np.asarray(prediction) > 0)
    return FindingScore(match_labels(predicted_labels, predicted_count, true_labels, true_count),
                        match_labels_strict(predicted_labels, predicted_count, true_labels, true_count, min_share),
                        voxel_overlap(predicted_labels, true_labels), predicted_count)
