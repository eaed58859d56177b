import numpy as np
import pytest

from IExplainLib import Volume


def oblique_volume():
    angle = np.deg2rad(18.5)
    direction = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    return Volume(np.zeros((4, 5, 6), np.int16), (0.7, 0.8, 2.5), (-100.0, -120.0, 30.0), direction)


def test_ijk_to_ras_flips_lps_axes_and_scales_by_spacing():
    volume = Volume(np.zeros((3, 4, 5)), (0.5, 0.6, 2.0), (10.0, 20.0, 30.0))
    matrix = volume.ijk_to_ras()
    assert np.allclose(matrix[:3, :3], np.diag([-0.5, -0.6, 2.0]))
    assert np.allclose(matrix[:3, 3], [-10.0, -20.0, 30.0])
    # voxel (i=4, j=3, k=2) sits at origin + spacing * index in LPS
    assert np.allclose(volume.index_to_lps((4, 3, 2)), [12.0, 21.8, 34.0])


def test_round_trip_through_slicer_matrix_keeps_oblique_geometry():
    volume = oblique_volume()
    back = Volume.from_ijk_to_ras(volume.array, volume.ijk_to_ras())
    assert np.allclose(back.spacing, volume.spacing)
    assert np.allclose(back.origin, volume.origin)
    assert np.allclose(back.direction, volume.direction)
    assert back.same_grid(volume)


def test_with_array_keeps_grid_and_refuses_other_shapes():
    volume = oblique_volume()
    mask = volume.with_array(np.ones(volume.shape, np.uint8))
    assert mask.same_grid(volume) and mask.array.dtype == np.uint8
    with pytest.raises(ValueError):
        volume.with_array(np.ones((1, 2, 3)))


def test_refuses_bad_geometry():
    with pytest.raises(ValueError):
        Volume(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        Volume(np.zeros((3, 3, 3)), spacing=(1.0, 0.0, 1.0))
