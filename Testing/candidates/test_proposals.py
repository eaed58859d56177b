"""Candidates from the CT: every resolved embolus becomes a candidate, each with what describes it; nothing is
proposed where there is no opacified artery."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from IExplainLib.candidates.patches import PATCH_CHANNELS, PATCH_PX, candidate_patches
from IExplainLib.candidates.proposals import (BRIDGES_MM, CALIBRES, DEFAULT_RULE, ENCLOSED_MM, FEATURE_NAMES,
                                              MAX_CANDIDATE_MM3, MAX_MEAN_HU, SESSION17_RULE, STUMP_MAX_HU, STUMP_MIN_MM,
                                              STUMP_SHARE, CandidateRule, _cut_oversized, _split_at_lumen_holes,
                                              _split_dim_parts, calibre_of, find_candidates, long_axis_mm)
from IExplainLib.filling_defects import LUMEN_HU
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


def test_a_clot_thinner_than_the_rim_opening_is_a_candidate_when_lumen_encloses_it(positive_study):
    # a 2x2-pixel clot in one slice: the in-plane opening that removes partial-volume rims removes it too, but with
    # the enclosed option it lies inside the lumen's closing, so it stays (segmental clots of real anatomy look so)
    hu = np.asarray(positive_study.volume.array).copy()
    lumen = (hu >= LUMEN_HU[0]) & (hu <= LUMEN_HU[1]) & (positive_study.truth == 0)
    inside = np.argwhere(ndimage.binary_erosion(lumen, structure=np.ones((3, 5, 5), bool)))
    z, y, x = inside[len(inside) // 2]
    hu[z, y:y + 2, x:x + 2] = 60
    volume = positive_study.volume.with_array(hu)
    found = find_candidates(volume, rule=CandidateRule(enclosed_mm=ENCLOSED_MM, bridges_mm=(), max_mean_hu=None))
    touching = np.unique(found.labels[z, y:y + 2, x:x + 2])
    assert touching.size == 1 and touching[0] > 0
    assert found.candidates[touching[0] - 1].voxels <= 8  # the clot itself, not the lumen around it
    # without the step (the session-17 rule) the opening removes it
    assert not find_candidates(volume, rule=SESSION17_RULE).labels[z, y:y + 2, x:x + 2].any()


def test_a_patch_of_lumen_denser_than_any_clot_is_no_candidate(positive_study):
    # contrast that is dimmer in one spot (160 HU in a 300 HU lumen) is inside the clot-density range the cores use,
    # but no clot is that dense: the default rule drops it, the session-17 rule proposed it
    hu = np.asarray(positive_study.volume.array).copy()
    lumen = (hu >= LUMEN_HU[0]) & (hu <= LUMEN_HU[1]) & (positive_study.truth == 0)
    inside = np.argwhere(ndimage.binary_erosion(lumen, structure=np.ones((3, 7, 7), bool)))
    z, y, x = inside[len(inside) // 2]
    spot = (slice(z - 1, z + 2), slice(y - 2, y + 2), slice(x - 2, x + 2))
    hu[spot] = 160
    volume = positive_study.volume.with_array(hu)
    assert 160 >= MAX_MEAN_HU
    assert find_candidates(volume, rule=SESSION17_RULE).labels[spot].any()
    assert not find_candidates(volume).labels[spot].any()


def test_a_rule_round_trips_through_its_card_section_and_refuses_a_wrong_field():
    rule = CandidateRule(enclosed_mm=2.0, bridges_mm=(1.0,), max_mean_hu=None, split_holes_mm3=50.0)
    assert CandidateRule.from_dict(rule.as_dict()) == rule
    # a card written before the cut at the lumen's holes existed: the rule of its time, without the cut
    old = CandidateRule.from_dict({"enclosed_mm": 3.0, "bridges_mm": [1.5], "max_mean_hu": 150})
    assert old.split_holes_mm3 is None and old.split_dim_hu is None
    # a card of session 21-23's rule (no cut of dim vessels) keeps finding what it was trained on
    assert CandidateRule.from_dict({**DEFAULT_RULE.as_dict(), "split_dim_hu": None}).split_dim_hu is None
    assert "split_dim_hu" not in CandidateRule(split_dim_hu=None).as_dict()
    # session 24's rule (no stumps) is written and read as it was
    assert "stump_share" not in CandidateRule(stump_share=None).as_dict()
    assert CandidateRule.from_dict(CandidateRule(stump_share=None).as_dict()).stump_share is None
    assert CandidateRule.from_dict(CandidateRule(stump_share=STUMP_SHARE).as_dict()).stump_share == STUMP_SHARE
    with pytest.raises(ValueError, match="'max_mean_hu'"):
        CandidateRule.from_dict({"max_mean_hu": "150"})
    with pytest.raises(ValueError, match="'stump_share'"):
        CandidateRule.from_dict({**DEFAULT_RULE.as_dict(), "stump_share": 0.05})  # not below the lumen check's 3%
    with pytest.raises(ValueError, match="'bridges_mm'"):
        CandidateRule.from_dict({"bridges_mm": 1.5})


def test_an_oversized_part_loses_its_thin_bridges_and_keeps_the_clot_it_joined():
    spacing = np.array([1.0, 1.0, 1.0])
    mask = np.zeros((30, 60, 90), bool)
    mask[2:28, 2:58, 2:50] = True            # 26x56x48 mm: tissue far larger than any candidate
    mask[10:20, 25:35, 70:80] = True         # a 1,000 mm3 clot...
    mask[15, 30, 50:70] = True               # ...joined to it by a one-voxel bridge
    small = np.zeros_like(mask)
    small[20:22, 5:7, 85:87] = True          # thin, but part of nothing oversized: kept as it is
    assert mask.sum() > MAX_CANDIDATE_MM3
    cut = _cut_oversized(mask | small, spacing, BRIDGES_MM)
    labels, _ = ndimage.label(cut, structure=np.ones((3, 3, 3), bool))
    assert labels[15, 30, 75] and labels[15, 30, 25] and labels[15, 30, 75] != labels[15, 30, 25]
    assert not cut[15, 30, 60]
    assert cut[small].all()


def test_a_clot_joined_through_the_wall_to_tissue_outside_the_artery_becomes_its_own_candidate():
    # an artery (lumen 300 HU) holding a clot (50 HU) in slices 2-9; in slice 5 the clot breaks through the wall into
    # soft tissue (50 HU) beside the artery, so clot and tissue are one connected candidate, several times the clot
    hu = np.full((12, 40, 60), -800.0, np.float32)
    y, x = np.ogrid[:40, :60]
    artery = (y - 20) ** 2 + (x - 20) ** 2 <= 8 ** 2
    clot = (y - 20) ** 2 + (x - 20) ** 2 <= 4 ** 2
    hu[2:10][:, artery] = 300
    hu[2:10][:, clot] = 50
    hu[1:11, 5:35, 30:55] = 50                # the tissue beside it
    hu[5, 18:23, 20:31] = 50                  # the break through the wall
    joined = (hu == 50).astype(np.int32)
    small = np.zeros_like(joined)
    small[0, 0:2, 0:2] = 2                    # a candidate below the size that is cut: kept as it is
    labels = joined + small
    cut = _split_at_lumen_holes(labels, hu, 1.0, min_mm3=100.0)
    in_clot = cut[3][clot]
    assert in_clot.min() > 0 and np.unique(in_clot).size == 1     # the clot, where the lumen rings it: one candidate
    clot_label = in_clot[0]
    tissue = cut[1:11, 5:35, 32:55]
    assert tissue.min() > 0 and not (tissue == clot_label).any()  # the tissue: another
    assert (cut[0, 0:2, 0:2] == cut[0, 0, 0]).all() and cut[0, 0, 0] not in (0, clot_label)
    # the parts are separate 26-connected components, as every candidate is
    components, count = ndimage.label(cut > 0, structure=np.ones((3, 3, 3), bool))
    assert count == np.unique(cut[cut > 0]).size
    # below the size the whole stays one candidate
    assert (_split_at_lumen_holes(labels, hu, 1.0, min_mm3=1e6) == labels).all()


def test_a_clot_touching_a_dim_vein_is_cut_from_the_vein_and_a_clot_alone_stays_whole():
    # a dim vein (130 HU, at clot density by the candidate rule) running through slices 0-11, and a clot (40 HU)
    # touching it in slices 5-7: one candidate, mostly vein, on average above the 100 HU ceiling
    hu = np.full((12, 30, 30), -800.0, np.float32)
    hu[:, 10:14, 10:14] = 130
    hu[5:8, 10:14, 14:19] = 40
    labels = (hu > -800).astype(np.int32)
    alone = np.zeros_like(labels)
    alone[2:9, 20:26, 20:26] = 2              # a clot whose rim partial volume lifts over the ceiling: left whole
    hu[2:9, 20:26, 20:26] = 130
    hu[2:9, 21:25, 21:25] = 40
    cut = _split_dim_parts(labels + alone, hu, 1.0, ceiling_hu=100.0, min_mm3=50.0)
    clot = cut[5:8, 10:14, 15:19]
    assert clot.min() > 0 and np.unique(clot).size == 1           # the clot, its own candidate
    vein = cut[0:4, 10:14, 10:14]
    assert vein.min() > 0 and not (vein == clot[0, 0, 0]).any()   # the vein, another
    assert (cut[2:9, 20:26, 20:26] == cut[2, 20, 20]).all()       # the rimmed clot: one candidate, whole
    components, count = ndimage.label(cut > 0, structure=np.ones((3, 3, 3), bool))
    assert count == np.unique(cut[cut > 0]).size                  # disjoint 26-connected components
    # in the mediastinum (no lung around it) the same candidate stays whole: every vessel there is dim
    mediastinum = np.where(hu == -800, 20.0, hu)
    assert (_split_dim_parts(labels, mediastinum, 1.0, ceiling_hu=100.0, min_mm3=50.0) == labels).all()
    # below the size, or with a ceiling under every voxel, nothing is cut
    assert (_split_dim_parts(labels, hu, 1.0, ceiling_hu=100.0, min_mm3=1e6) == labels).all()
    assert (_split_dim_parts(labels, hu, 1.0, ceiling_hu=0.0, min_mm3=50.0) == labels).all()


def _occluded_artery(clot_hu: float, length_mm: int = 12):
    """A small artery (2 mm) in the lung (0.7 mm pixels, 1 mm slices): 5 mm of opacified lumen, then ``length_mm`` of
    clot filling it, then lung: the clot's shell touches lumen only at the stump (under 3% of it)."""
    hu = np.full((40, 48, 48), -850, np.int16)
    _, yy, xx = np.ogrid[:40, :48, :48]
    artery = np.broadcast_to(np.hypot((yy - 24) * 0.7, (xx - 24) * 0.7) <= 2.0, hu.shape)
    along = np.arange(40)[:, None, None]
    hu[artery & (along >= 5) & (along < 10)] = 300
    clot = artery & (along >= 10) & (along < 10 + length_mm)
    hu[clot] = clot_hu
    region = np.zeros(hu.shape, bool)
    region[2:-2, 4:-4, 4:-4] = True
    return Volume(hu, (0.7, 0.7, 1.0), (0.0, 0.0, 0.0), np.eye(3)), region, clot


def test_an_occlusive_clot_beyond_its_arterys_stump_is_a_candidate_where_stump_shaped():
    stumps = DEFAULT_RULE
    assert stumps.stump_share == STUMP_SHARE
    volume, region, clot = _occluded_artery(clot_hu=0.0)
    # session 24's rule: the lumen check (3% of the core's shell) drops it
    assert not find_candidates(volume, region, rule=CandidateRule(stump_share=None)).labels[clot].any()
    found = find_candidates(volume, region, rule=stumps)
    assert len(found) == 1 and (found.labels[clot] > 0).mean() > 0.8
    assert found.candidates[0].calibre == "subsegmental"
    # what is not shaped as a partial-volume clot filling a small artery stays dropped: denser, or far larger
    for dense_or_large in (_occluded_artery(clot_hu=STUMP_MAX_HU + 50), _occluded_artery(0.0, length_mm=26)):
        assert len(find_candidates(dense_or_large[0], dense_or_large[1], rule=stumps)) == 0


def test_the_long_axis_is_measured_along_any_direction():
    spacing = np.array([2.0, 0.5, 0.5])
    line = np.zeros((10, 40, 40), bool)
    line[3, 5, 5:25] = True  # 20 voxels along x: 10 mm
    assert long_axis_mm(line, spacing) == pytest.approx(10.0)
    column = np.zeros((10, 40, 40), bool)
    column[:, 7, 7] = True
    assert long_axis_mm(column, spacing) == pytest.approx(20.0)
    assert long_axis_mm(column, spacing) >= STUMP_MIN_MM
    diagonal = np.zeros((10, 40, 40), bool)
    diagonal[0, np.arange(20), np.arange(20)] = True
    assert long_axis_mm(diagonal, spacing) == pytest.approx(19 * 0.5 * np.sqrt(2) + 0.5 * np.sqrt(2), rel=1e-3)


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
    sx, sy, sz = positive_study.volume.spacing
    for patch, candidate in zip(patches, found.candidates[:5]):
        # the candidate's own voxels are in view where they lie around its centroid (a curved one's centroid may
        # lie beside it): the mask's middle in the patch is the middle of its voxels on that slice, in millimetres
        assert patch[mask_axial].any()
        cz, cy, cx = candidate.centroid_zyx
        on_slice = np.argwhere(found.labels[int(round(cz))] == candidate.label)
        in_patch = centre - 0.5 + (on_slice - (cy, cx)) * (sy, sx)  # each voxel's place in the patch (1 mm pixels)
        in_view = in_patch[((in_patch > -0.5) & (in_patch < PATCH_PX - 0.5)).all(axis=1)]
        # within about one voxel (a voxel at the patch's border is only partly in view)
        assert np.abs(np.argwhere(patch[mask_axial]).mean(axis=0) - in_view.mean(axis=0)).max() < 1.5 * max(sx, sy)
