"""What the reducer learns from: each study's candidates (hand features, patches, slice ranges) and its slice labels.

Nothing here takes voxel truth or boxes: :func:`prepare_study` is given the CT and its per-slice PE labels (RSPECT's
``pe_present_on_image``) only, so no truth can reach training through it. Studies are cached as ``.npz`` files so that
several training runs (the ablation's arms) share one candidate extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..volume import Volume
from .patches import candidate_patches
from .proposals import FEATURE_NAMES, CandidateSet, find_candidates
from .rings import RING_NAMES, ring_features

# the columns of ``StudyCandidates.features``: the candidate's hand features, then the ring around it in its patches
# (a reducer reads the first columns its architecture knows: ``features-mlp`` the hand features alone)
STUDY_FEATURE_NAMES = FEATURE_NAMES + RING_NAMES


@dataclass
class StudyCandidates:
    """One study's candidates as training data: features (N, len(STUDY_FEATURE_NAMES)), patches (N, C, P, P)
    float16, slice ranges (N, 2) inclusive, and the study's slice labels (Z,) bool."""

    case_id: str
    features: np.ndarray
    patches: np.ndarray
    slice_ranges: np.ndarray
    slice_labels: np.ndarray

    @property
    def negative(self) -> bool:
        return not bool(self.slice_labels.any())

    def __len__(self) -> int:
        return len(self.features)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, case_id=self.case_id, features=self.features, patches=self.patches,
                            slice_ranges=self.slice_ranges, slice_labels=self.slice_labels)

    @classmethod
    def load(cls, path: str | Path) -> "StudyCandidates":
        with np.load(path, allow_pickle=False) as data:
            return cls(str(data["case_id"]), data["features"], data["patches"], data["slice_ranges"],
                       data["slice_labels"].astype(bool))


def study_candidates(case_id: str, volume: Volume, candidates: CandidateSet,
                     slice_labels: np.ndarray) -> StudyCandidates:
    slice_labels = np.asarray(slice_labels, bool)
    if slice_labels.shape != (volume.shape[0],):
        raise ValueError(f"{case_id}: {slice_labels.shape[0]} slice labels for {volume.shape[0]} slices")
    patches = candidate_patches(np.asarray(volume.array), candidates.labels, candidates.candidates,
                                volume.spacing).astype(np.float16)
    ranges = np.array([c.slice_range for c in candidates.candidates], np.int32).reshape(-1, 2)
    # the rings from the patches as they are kept, so that a cache's studies give what detection computes
    features = np.concatenate([candidates.features(), ring_features(patches)], axis=1)
    return StudyCandidates(case_id, features, patches, ranges, slice_labels)


def prepare_study(case_id: str, volume: Volume, slice_labels: np.ndarray) -> StudyCandidates:
    """Candidates of one CT and its slice labels, as training data (the CT and its slice labels: no truth)."""
    return study_candidates(case_id, volume, find_candidates(volume), slice_labels)
