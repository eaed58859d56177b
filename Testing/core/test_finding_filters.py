"""Finding filters from the CT: the chest location filter and the filling-defect check (beyond the paper)."""

import numpy as np
import pytest

from IExplainLib.explain.params import ExplainParams
from IExplainLib.finding_filters import defect_cores, keep_findings
from IExplainLib.phantoms import make_study
from IExplainLib.volume import Volume

SPACING = (0.7, 0.7, 1.0)


def _artery_with_clot():
    """Lung (-850) with an opacified artery along z (350 HU, radius 5 px), a clot (50 HU, radius 2 px) in its middle
    for slices 8-15, and a bone block (cortex 900 HU around 300 HU marrow) beside a soft-tissue blob."""
    hu = np.full((24, 64, 64), -850, np.float32)
    y, x = np.ogrid[:64, :64]
    lumen = (y - 20) ** 2 + (x - 20) ** 2 <= 25
    clot = (y - 20) ** 2 + (x - 20) ** 2 <= 4
    hu[:, lumen] = 350
    hu[8:16, clot] = 50
    hu[:, 40:56, 40:56] = 900
    hu[:, 42:54, 42:54] = 300
    hu[8:16, 44:48, 34:40] = 40  # soft tissue against the bone
    return hu


def test_a_clot_in_a_lumen_keeps_its_core_and_a_blob_at_the_bone_goes():
    hu = _artery_with_clot()
    found = np.zeros(hu.shape, bool)
    found[6:18, 12:29, 12:29] = True   # the heat map's blob: clot, lumen and lung around it
    found[6:18, 42:50, 32:42] = True   # soft tissue at the bone
    kept = defect_cores(found, hu, SPACING)
    expected = np.zeros(hu.shape, bool)
    y, x = np.ogrid[:64, :64]
    expected[8:16, (y - 20) ** 2 + (x - 20) ** 2 <= 4] = True
    assert np.array_equal(kept, expected)


def test_soft_tissue_in_lung_without_contrast_around_is_not_a_defect():
    hu = np.full((12, 48, 48), -850, np.float32)
    hu[3:9, 20:26, 20:26] = 45   # an unenhanced vessel or a nodule: no opacified lumen around it
    found = np.zeros(hu.shape, bool)
    found[2:10, 18:28, 18:28] = True
    assert not defect_cores(found, hu, SPACING).any()


def test_chest_location_drops_a_cluster_in_the_chest_wall_and_keeps_one_in_the_lung():
    study = make_study(8124, slices=24, size=160, n_emboli=2)
    hu = study.volume.array
    z = 12
    lung_y, lung_x = np.argwhere(hu[z] < -700)[len(np.argwhere(hu[z] < -700)) // 2]
    body = np.argwhere(hu[z] > -300)
    wall_y, wall_x = body[np.argmin(body[:, 0])] + np.array([2, 0])  # just inside the front of the body
    mask = np.zeros(hu.shape, bool)
    mask[z - 2:z + 3, lung_y - 3:lung_y + 4, lung_x - 3:lung_x + 4] = True
    mask[z - 2:z + 3, wall_y:wall_y + 3, wall_x - 3:wall_x + 4] = True
    params = ExplainParams(location_filter="chest", min_cluster_voxels=0, max_center_distance_px=1.0)
    kept = keep_findings(mask, params, study.volume)
    assert kept[z, lung_y, lung_x] and not kept[z, wall_y, wall_x]
    # the paper's filter with the same tiny distance limit would drop both: the location rule really was replaced
    assert not keep_findings(mask, params.replace(location_filter="centre")).any()


def test_filters_from_the_ct_need_the_ct():
    with pytest.raises(ValueError, match="CT volume"):
        keep_findings(np.ones((4, 8, 8)), ExplainParams(defect_check=True))
    with pytest.raises(Exception, match="location_filter"):
        ExplainParams(location_filter="circle")


def test_the_chest_region_is_found_once_per_ct_and_anew_for_another_ct():
    from IExplainLib.chest_region import chest_region
    from IExplainLib.finding_filters import _chest_region_of

    first = make_study(8125, slices=12, size=96, n_emboli=1).volume
    second = make_study(8126, slices=12, size=96, n_emboli=1).volume
    region = _chest_region_of(first.array, first.spacing)
    assert _chest_region_of(first.array.copy(), first.spacing) is region  # same CT: the region is reused
    other = _chest_region_of(second.array, second.spacing)
    assert other is not region and np.array_equal(other, chest_region(second.array, second.spacing))
    assert not np.array_equal(other, region)


def test_a_cluster_holding_part_of_a_clot_selects_the_whole_clot_with_the_defect_search():
    hu = _artery_with_clot()
    y, x = np.ogrid[:64, :64]
    clot = np.zeros(hu.shape, bool)
    clot[8:16, (y - 20) ** 2 + (x - 20) ** 2 <= 4] = True
    off = np.zeros(hu.shape, bool)
    off[6:18, 21:30, 14:27] = True   # the heat map's blob a pixel below the clot's centre: it holds a sliver of it
    assert not np.array_equal(defect_cores(off, hu, SPACING), clot)   # inside only: the clot is cut
    assert np.array_equal(defect_cores(off, hu, SPACING, search_mm=3.0), clot)
    far = np.zeros(hu.shape, bool)
    far[6:18, 30:34, 30:34] = True   # lung 7 mm away: the search selects nothing it does not touch
    assert not defect_cores(far, hu, SPACING, search_mm=3.0).any()
    params = ExplainParams(min_cluster_voxels=0, max_center_distance_px=1000, defect_check=True,
                           defect_search_mm=3.0)
    assert np.array_equal(keep_findings(off, params, Volume(hu, SPACING)), clot)


def test_the_defect_search_is_validated():
    with pytest.raises(Exception, match="defect_search_mm"):
        ExplainParams(defect_search_mm=-1.0)


def test_growing_each_cluster_in_its_own_box_equals_one_dilation_of_the_whole_mask():
    from scipy import ndimage

    from IExplainLib.finding_filters import grow_in_plane

    rng = np.random.default_rng(3)
    mask = rng.random((12, 40, 40)) > 0.995
    mask[0, 0, :3] = mask[-1, -1, -2:] = True      # clusters on the volume's faces and corners
    mask[5:7, 18:22, 18:22] = True                  # one larger cluster
    radius = 4
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    ball = np.zeros((3, 2 * radius + 1, 2 * radius + 1), bool)
    ball[:, x * x + y * y <= radius * radius] = True
    assert np.array_equal(grow_in_plane(mask, radius), ndimage.binary_dilation(mask, structure=ball))
    assert not grow_in_plane(np.zeros((3, 8, 8), bool), 2).any()

