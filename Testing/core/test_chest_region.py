"""The chest region found from HU: lungs and mediastinum kept, bone and chest wall left out."""

import numpy as np
import pytest

from IExplainLib.chest_region import chest_region
from IExplainLib.phantoms import make_study


@pytest.fixture(scope="module")
def phantom():
    return make_study(8123, slices=24, size=160, n_emboli=3)


def test_every_embolus_and_nearly_all_arterial_lumen_lie_inside(phantom):
    region = chest_region(phantom.volume.array, phantom.volume.spacing)
    assert region.shape == phantom.volume.shape and region.dtype == bool
    truth = phantom.truth > 0
    assert truth.any() and region[truth].all()
    assert region[phantom.vessels].mean() > 0.97
    assert 0.03 < region.mean() < 0.4  # much less than the slice: the chest wall, the outside air are left out


def test_bone_and_the_body_wall_are_left_out(phantom):
    hu = phantom.volume.array
    region = chest_region(hu, phantom.volume.spacing)
    cortex = hu > 600
    assert cortex.sum() > 100 and region[cortex].mean() < 0.02
    # the outermost body ring (skin, fat, muscle) of the middle slice
    z = hu.shape[0] // 2
    body = hu[z] > -500
    rows = np.flatnonzero(body.any(axis=1))
    top_row = rows[0] + 2
    assert not region[z, top_row].any()


def test_a_study_without_lungs_gets_an_empty_region():
    soft_tissue = np.full((10, 64, 64), 40, np.int16)
    soft_tissue[:, :4] = -1000  # air outside the body only
    assert not chest_region(soft_tissue, (0.8, 0.8, 2.0)).any()


def test_refuses_a_2d_array():
    with pytest.raises(ValueError, match="z, y, x"):
        chest_region(np.zeros((64, 64)), (1, 1, 1))
