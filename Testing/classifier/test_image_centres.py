"""Image-centred PE patches: small clot-density spots inside opacified lumen, found from HU, with slice labels only."""

import numpy as np
import torch

from IExplainLib.classifier import ClassifierSpec, StudySource
from IExplainLib.classifier.data import SliceDataset, prepare_all
from IExplainLib.classifier.image_centres import defect_candidates, hu_to_window_value

WINDOW = (100.0, 700.0)


def _values(hu: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: hu_to_window_value(v, WINDOW))(hu).round().astype(np.uint8)


def test_candidates_are_the_clot_in_the_lumen_not_soft_tissue_nor_vessel_rims():
    hu = np.full((64, 64), -800.0)  # lung
    hu[4:20, 4:20] = 300.0  # an opacified artery ...
    hu[11:14, 11:14] = 40.0  # ... with a filling defect
    hu[30:33, 4:20] = 60.0  # partial-volume rim along another artery's border with lung
    hu[33:40, 4:20] = 300.0
    hu[44:64, 30:64] = 40.0  # a large soft-tissue region (heart wall) touching lumen
    hu[40:44, 30:64] = 300.0
    found = defect_candidates(_values(hu), WINDOW)
    assert len(found)
    assert all(11 <= y < 14 and 11 <= x < 14 for y, x in found)
    assert defect_candidates(_values(np.full((32, 32), -800.0)), WINDOW).shape == (0, 2)


def test_image_centred_pe_patches_go_to_the_defect_not_to_the_voxel_label(tmp_path, make_tube_study):
    from IExplainLib.volume import Volume

    spec = ClassifierSpec(input_size=32, hu_windows=[WINDOW])
    volume, labels = make_tube_study(3, slices=12, size=32, clot_slices=None)
    labels[4:8] = 1
    array = np.full(volume.shape, -800, np.int16)
    array[:, 2:14, 2:14] = 300
    array[:, 7:10, 7:10] = 40  # the defect the image shows
    truth = np.zeros(volume.shape, np.uint8)
    truth[4:8, 22:26, 22:26] = 1  # a voxel label elsewhere: truth-centred patches go there
    source = StudySource("pos", load=lambda: volume.with_array(array), slice_labels=labels,
                         load_label=lambda: Volume(truth, spacing=volume.spacing))
    studies = prepare_all([source], spec, tmp_path)
    whole, _ = SliceDataset(studies, spec)[5]

    def holds(patch, y0, y1, x0, x1) -> bool:
        hits = [(y, x) for y in range(17) for x in range(17) if torch.equal(whole[:, y:y + 16, x:x + 16], patch)]
        return any(y <= y0 and y1 <= y + 16 and x <= x0 and x1 <= x + 16 for y, x in hits)

    torch.manual_seed(0)
    truth_centred, image_centred = SliceDataset(studies, spec, crop=16), SliceDataset(studies, spec, crop=16,
                                                                                      image_centred=True)
    assert all(holds(truth_centred[5][0], 22, 26, 22, 26) for _ in range(20))
    assert all(holds(image_centred[5][0], 7, 10, 7, 10) for _ in range(20))

