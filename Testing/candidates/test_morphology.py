"""The faster morphology the candidates run on gives SciPy's result voxel for voxel: dilation and erosion by a ball or
a disk (either border value), in-plane hole filling, closings and openings defined by distance transforms, and the
cores of a mask worked in the mask's box."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from IExplainLib import chest_region as chest_region_module
from IExplainLib.candidates.proposals import _NEAR, CandidateSet, _ball, _closed_lumen, _thick
from IExplainLib.chest_region import _IN_PLANE, _disk, _lungs, fill_holes_in_plane
from IExplainLib.morphology import _row_runs, dilate, erode
from IExplainLib.filling_defects import core_features

STRUCTURES = [_disk(1), _disk(3), _ball(np.array([1.0, 0.7, 0.7]), 3.0), _ball(np.array([2.5, 0.68, 0.68]), 1.5),
              np.ones((3, 3, 3), bool)]


@pytest.mark.parametrize("structure", STRUCTURES, ids=lambda s: "x".join(map(str, s.shape)))
@pytest.mark.parametrize("shape", [(9, 17, 23), (3, 40, 5), (2, 2, 2)])
def test_dilation_and_erosion_by_a_ball_or_disk_are_scipys(structure, shape):
    rng = np.random.default_rng(7)
    for share in (0.03, 0.5, 0.97):
        mask = rng.random(shape) < share
        assert np.array_equal(dilate(mask, structure), ndimage.binary_dilation(mask, structure=structure))
        for border in (0, 1):
            assert np.array_equal(erode(mask, structure, border),
                                  ndimage.binary_erosion(mask, structure=structure, border_value=border))


def test_a_structure_whose_rows_are_not_centred_runs_falls_back_to_scipy():
    structure = np.zeros((1, 3, 3), bool)
    structure[0, 1, :2] = True
    assert _row_runs(structure) is None
    mask = np.random.default_rng(3).random((4, 9, 9)) < 0.3
    assert np.array_equal(dilate(mask, structure), ndimage.binary_dilation(mask, structure=structure))


def test_in_plane_hole_filling_is_scipys():
    mask = np.random.default_rng(5).random((6, 30, 30)) < 0.45
    mask[:, 10:20, 10:20] = False
    mask[:, 9, 9:21] = mask[:, 20, 9:21] = mask[:, 9:21, 9] = mask[:, 9:21, 20] = True  # a closed ring per slice
    assert np.array_equal(fill_holes_in_plane(mask), ndimage.binary_fill_holes(mask, structure=_IN_PLANE))


def test_cores_of_a_mask_off_centre_are_as_when_computed_over_the_whole_array():
    rng = np.random.default_rng(11)
    hu = rng.normal(60.0, 250.0, (12, 48, 48)).astype(np.float32)
    mask = np.zeros(hu.shape, bool)
    mask[3:9, 30:46, 2:20] = True
    cores, rows = core_features(mask, hu, (0.7, 0.7, 1.5))
    # the same step over the whole array, as it was computed before it worked in the mask's box
    clot = mask & (hu >= -150.0) & (hu <= 180.0)
    cross = np.zeros((1, 3, 3), bool)
    cross[0, 1, :] = cross[0, :, 1] = True
    expected, count = ndimage.label(ndimage.binary_opening(clot, structure=cross), structure=np.ones((3, 3, 3), bool))
    assert count > 3 and np.array_equal(cores, expected)
    assert [row["label"] for row in rows] == list(range(1, count + 1))
    small = core_features(mask, hu, (0.7, 0.7, 1.5), min_mm3=5.0)[1]
    assert small == [row for row in rows if row["mm3"] >= 5.0] and len(small) < len(rows)


@pytest.mark.parametrize("spacing", [(1.0, 1.44676, 1.44676), (2.0, 1.953125, 1.953125), (2.5, 1.389444, 1.389444),
                                     (1.0, 1.0, 1.0)])
def test_closings_and_openings_are_the_distance_transforms_thresholds(spacing):
    spacing = np.array(spacing)
    rng = np.random.default_rng(2)
    for share in (0.0, 0.002, 0.1, 0.6, 0.97, 1.0):
        mask = rng.random((24, 30, 36)) < share
        for radius in (6.0, 9.0):
            grown = ndimage.distance_transform_edt(~mask, sampling=spacing) <= radius
            closed = ndimage.distance_transform_edt(grown, sampling=spacing) > radius
            assert np.array_equal(_closed_lumen(mask, spacing, radius), closed)
            eroded = ndimage.distance_transform_edt(mask, sampling=spacing) > radius
            opened = ndimage.distance_transform_edt(~eroded, sampling=spacing) <= radius
            assert np.array_equal(_thick(mask, spacing, radius), opened)


def test_one_dilation_by_the_5_cube_is_two_by_the_3_cube_also_at_the_edge():
    rng = np.random.default_rng(9)
    for shape in [(5, 9, 12), (2, 30, 3), (1, 1, 1)]:
        mask = rng.random(shape) < 0.1
        assert np.array_equal(dilate(mask, _NEAR),
                              ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), bool), iterations=2))


def test_painting_in_the_candidates_box_is_the_whole_lookup():
    labels = np.zeros((6, 10, 12), np.int32)
    labels[2:4, 3:6, 4:9] = 1
    labels[3, 7, 5] = 2
    box = (slice(1, 5), slice(2, 9), slice(3, 10))
    lookup = np.array([0.0, 0.25, 0.75], np.float32)
    painted = CandidateSet(labels, box=box).paint(lookup)
    assert painted.dtype == np.float32 and np.array_equal(painted, lookup[labels])
    assert np.array_equal(CandidateSet(labels, box=box).paint(np.array([7, 1, 2], np.uint16)),
                          np.array([7, 1, 2], np.uint16)[labels])


def test_the_lungs_are_remembered_for_the_same_grid_only():
    rng = np.random.default_rng(1)
    hu = np.full((4, 40, 40), 40.0, np.float32)
    hu[:, 8:32, 6:18] = hu[:, 8:32, 22:34] = -850.0
    first = _lungs(hu, 2.0)
    first[:] = False  # a caller's change does not reach the remembered lungs
    assert np.array_equal(_lungs(hu, 2.0), chest_region_module._find_lungs(hu, 2.0))
    other = hu + rng.normal(0.0, 1.0, hu.shape).astype(np.float32)
    other[:, 20, 10] = 40.0
    assert np.array_equal(_lungs(other, 2.0), chest_region_module._find_lungs(other, 2.0))
    assert np.array_equal(_lungs(hu, 1.0), chest_region_module._find_lungs(hu, 1.0))
