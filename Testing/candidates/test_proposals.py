"""Candidates from the CT: every resolved embolus becomes a candidate, each with what describes it; nothing is
proposed where there is no opacified artery."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib.candidates.patches import PATCH_CHANNELS, PATCH_PX, candidate_patches
from IExplainLib.candidates.proposals import CALIBRES, FEATURE_NAMES, calibre_of, find_candidates
from IExplainLib.volume import Volume


def test_central_and_lobar_emboli_are_candidates_with_their_description(positive_study):
    found = find_candidates(positive_study.volume)
    assert len(found) > 0
    for k, embolus in enumerate(positive_study.emboli, start=1):
        if embolus["level"] not in ("central", "lobar"):
            continue
        touching = np.unique(found.labels[positive_study.truth == k])
        touching = touching[touching > 0]
        assert touching.size, f"embolus {k} ({embolus['level']}) is no candidate"
        candidate = found.candidates[touching[0] - 1]
        assert candidate.calibre in CALIBRES
        assert candidate.contrast_hu > 100  # a clot is darker than the lumen around it
        assert candidate.volume_mm3 == pytest.approx(candidate.voxels * float(np.prod(positive_study.volume.spacing)))
        z0, z1 = candidate.slice_range
        assert z0 <= candidate.centroid_zyx[0] <= z1
        assert candidate.features.shape == (len(FEATURE_NAMES),)
    row = found.candidates[0].as_row(positive_study.volume)
    assert {"calibre", "volume_mm3", "contrast_hu", "centroid_lps_mm", "slice_range"} <= set(row)
    # each candidate's label is its own: labels 1..N, one per candidate
    assert set(np.unique(found.labels)) == set(range(len(found) + 1))


def test_calibre_classes_follow_the_vessel_radius():
    assert [calibre_of(r) for r in (12.0, 5.0, 2.5, 1.0)] == list(CALIBRES)


def test_a_ct_without_opacified_arteries_gives_no_candidate_touching_lumen(positive_study):
    hu = np.asarray(positive_study.volume.array).copy()
    hu[hu > 150] = 40  # no contrast: every vessel at blood density, nothing is a filling defect of a lumen
    found = find_candidates(positive_study.volume.with_array(hu))
    assert len(found) == 0
    assert not found.labels.any()


def test_a_volume_without_chest_gives_an_empty_candidate_set():
    water = Volume(np.zeros((12, 40, 40), np.int16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    found = find_candidates(water)
    assert len(found) == 0 and found.features().shape == (0, len(FEATURE_NAMES))


def test_patches_show_the_candidate_at_their_centre(positive_study):
    found = find_candidates(positive_study.volume)
    patches = candidate_patches(np.asarray(positive_study.volume.array), found.labels, found.candidates[:5],
                                positive_study.volume.spacing)
    assert patches.shape == (min(5, len(found)), len(PATCH_CHANNELS), PATCH_PX, PATCH_PX)
    assert patches.min() >= 0 and patches.max() <= 1
    mask_axial = PATCH_CHANNELS.index("mask_axial")
    centre = PATCH_PX // 2
    for patch in patches:  # the candidate's own voxels are in view, around the centre (a curved one's centroid
        # may lie beside it)
        assert patch[mask_axial].any()
        assert np.abs(np.argwhere(patch[mask_axial]).mean(axis=0) - centre).max() < 8
