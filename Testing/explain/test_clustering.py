"""Hysteresis: high voxels kept, low voxels kept only with a high voxel inside the (x, y, z) neighbourhood box."""

from __future__ import annotations

import numpy as np

from IExplainLib.explain.clustering import hysteresis
from IExplainLib.explain.params import ExplainParams

NEIGHBOURHOOD_ZYX = (5, 15, 15)  # the paper's 15x15x5 (x, y, z)


def heat_with_high_voxel() -> np.ndarray:
    heat = np.zeros((11, 40, 40), dtype=np.float32)
    heat[5, 20, 20] = 10.0  # the high voxel
    return heat


def test_low_voxel_inside_the_box_is_kept_and_outside_dropped():
    heat = heat_with_high_voxel()
    heat[5, 20, 27] = 6.0   # 7 px away in x: inside the 15-wide box (half-width 7)
    heat[5, 20, 28] = 6.0   # 8 px away: outside
    heat[5, 13, 20] = 6.0   # 7 px away in y: inside
    heat[5, 20, 5] = 4.0    # below the low threshold (5): never kept
    mask = hysteresis(heat, high=10.0, low=5.0, neighbourhood_zyx=NEIGHBOURHOOD_ZYX)
    assert mask[5, 20, 20] and mask[5, 20, 27] and mask[5, 13, 20]
    assert not mask[5, 20, 28] and not mask[5, 20, 5]
    assert mask.sum() == 3


def test_neighbourhood_is_anisotropic_x_versus_z():
    heat = heat_with_high_voxel()
    heat[7, 20, 20] = 6.0   # 2 slices away in z: inside (half-depth 2)
    heat[8, 20, 20] = 6.0   # 3 slices away in z: outside, although 3 px in x would be well inside
    heat[5, 20, 23] = 6.0   # 3 px away in x: inside
    mask = hysteresis(heat, high=10.0, low=5.0, neighbourhood_zyx=NEIGHBOURHOOD_ZYX)
    assert mask[7, 20, 20] and mask[5, 20, 23]
    assert not mask[8, 20, 20]


def test_no_high_voxel_means_nothing_and_low_chains_do_not_propagate():
    heat = np.full((5, 30, 30), 6.0, dtype=np.float32)  # a sea of low voxels and no high one
    assert not hysteresis(heat, 10.0, 5.0, NEIGHBOURHOOD_ZYX).any()
    heat = heat_with_high_voxel()
    heat[5, 20, 21:40] = 6.0  # a chain of low voxels touching the high one: only the box part is kept
    mask = hysteresis(heat, 10.0, 5.0, NEIGHBOURHOOD_ZYX)
    assert mask[5, 20, 21:28].all() and not mask[5, 20, 28:].any()


def test_batch_axis_keeps_windows_apart():
    heat = np.zeros((2, 7, 20, 20), dtype=np.float32)
    heat[0, 3, 10, 10] = 10.0
    heat[1, 3, 10, 11] = 6.0  # near window 0's high voxel, but in another window
    mask = hysteresis(heat, 10.0, 5.0, NEIGHBOURHOOD_ZYX)
    assert mask[0, 3, 10, 10] and not mask[1].any()


def test_params_scale_the_neighbourhood_to_the_input_size():
    params = ExplainParams()
    assert params.neighbourhood_zyx(512) == (5, 15, 15)
    assert params.neighbourhood_zyx(128) == (5, 5, 5)   # 15 px at 512 -> 3.75 -> 4 -> odd 5
    assert params.min_new_voxels_at(512) == 50 and params.min_new_voxels_at(128) == 3
    assert ExplainParams(reference_size=None).neighbourhood_zyx(128) == (5, 15, 15)
