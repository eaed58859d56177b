"""The ring around a candidate in its patches: lumen on every side of a clot inside an artery, lung around a
partial-volume vessel; and a reducer reads only the feature columns its architecture knows."""

from __future__ import annotations

import numpy as np
import torch

from IExplainLib.candidates.mil import score_study
from IExplainLib.candidates.patches import PATCH_CHANNELS, PATCH_PX, PATCH_WINDOW
from IExplainLib.candidates.reducer import build_reducer
from IExplainLib.candidates.rings import RING_NAMES, ring_features
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES, StudyCandidates
from IExplainLib.transforms import window_hu

_y, _x = np.mgrid[:PATCH_PX, :PATCH_PX] - PATCH_PX // 2


def _patch(hu_plane: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A candidate's patch with the same plane and mask in its axial, coronal and sagittal channels."""
    patch = np.zeros((len(PATCH_CHANNELS), PATCH_PX, PATCH_PX), np.float32)
    for name in ("axial_above", "axial", "axial_below", "coronal", "sagittal"):
        patch[PATCH_CHANNELS.index(name)] = window_hu(hu_plane.astype(np.float32), *PATCH_WINDOW)
    for name in ("mask_axial", "mask_coronal", "mask_sagittal"):
        patch[PATCH_CHANNELS.index(name)] = mask
    return patch


def _column(columns: np.ndarray, name: str) -> np.ndarray:
    return columns[:, RING_NAMES.index(name)]


def test_a_clot_in_an_artery_has_lumen_all_round_and_a_vessel_in_lung_has_lung():
    clot = _y ** 2 + _x ** 2 <= 3 ** 2
    in_artery = np.where(_y ** 2 + _x ** 2 <= 10 ** 2, 350.0, -850.0)
    in_artery[clot] = 50.0
    # a vessel segment at clot density running through lung, its artery's lumen at one end only
    segment = (np.abs(_y) <= 1) & (np.abs(_x) <= 5)
    in_lung = np.full((PATCH_PX, PATCH_PX), -850.0)
    in_lung[segment] = 40.0
    in_lung[(np.abs(_y) <= 1) & (_x > 5) & (_x <= 12)] = 350.0
    columns = ring_features(np.stack([_patch(in_artery, clot), _patch(in_lung, segment)]).astype(np.float16))
    assert columns.shape == (2, len(RING_NAMES))
    for plane in ("axial", "coronal", "sagittal"):
        directions, lumen, lung = (_column(columns, f"{plane}_{what}")
                                   for what in ("lumen_directions", "ring_lumen", "ring_lung"))
        assert directions[0] == 1.0 and lumen[0] > 0.9 and lung[0] == 0.0
        assert directions[1] <= 3 / 8 and lung[1] > 0.7 and lumen[1] < 0.2


def test_a_plane_that_misses_the_candidate_is_measured_around_the_patch_centre():
    lumen = np.full((PATCH_PX, PATCH_PX), 350.0)
    columns = ring_features(_patch(lumen, np.zeros((PATCH_PX, PATCH_PX)))[None])
    assert _column(columns, "axial_ring_lumen")[0] == 1.0 and _column(columns, "axial_lumen_directions")[0] == 1.0


def test_each_architecture_reads_its_own_columns_of_a_studys_features():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(5, len(STUDY_FEATURE_NAMES))).astype(np.float32)
    study = StudyCandidates("s", features, np.zeros((5, len(PATCH_CHANNELS), PATCH_PX, PATCH_PX), np.float16),
                            np.zeros((5, 2), np.int32), np.zeros(1, bool))
    torch.manual_seed(0)
    hand = build_reducer("features-mlp")
    rings = build_reducer("rings-mlp")
    assert hand.inputs == len(STUDY_FEATURE_NAMES) - len(RING_NAMES) and rings.inputs == len(STUDY_FEATURE_NAMES)
    # the hand-feature reducer (every model file before session 21) scores the same with or without the rings
    alone = StudyCandidates("s", features[:, :hand.inputs], study.patches, study.slice_ranges, study.slice_labels)
    assert np.array_equal(score_study(hand, study), score_study(hand, alone))
    # the rings-mlp does read the rings
    changed = features.copy()
    changed[:, hand.inputs:] += 5.0
    moved = StudyCandidates("s", changed, study.patches, study.slice_ranges, study.slice_labels)
    assert not np.array_equal(score_study(rings, study), score_study(rings, moved))
