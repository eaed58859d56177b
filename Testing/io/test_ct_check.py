"""Non-CT volumes are refused before any model sees them."""

import numpy as np
import pytest

from IExplainLib import Volume
from IExplainLib.cli.main import main
from IExplainLib.errors import UnsupportedInputError
from IExplainLib.io import require_ct_hounsfield, write_volume


def chest_like(shape=(4, 32, 32)) -> np.ndarray:
    hu = np.full(shape, -1000, np.int16)  # air
    hu[:, 8:24, 8:24] = 40                # soft tissue
    return hu


def test_a_ct_in_hounsfield_units_passes():
    require_ct_hounsfield(Volume(chest_like()))


@pytest.mark.parametrize("array, why", [
    (np.arange(4 * 32 * 32).reshape(4, 32, 32) % 6, "label map"),      # integer labels 0..5
    (np.random.default_rng(0).random((4, 32, 32)), "heat map"),         # floats in [0, 1]
    (((chest_like() + 160) / 400 * 255).clip(0, 255).astype(np.uint8), "windowed export"),
    (np.zeros((4, 32, 32), bool), "mask"),
])
def test_other_volumes_are_refused_in_one_line(array, why):
    with pytest.raises(UnsupportedInputError, match="CT"):
        require_ct_hounsfield(Volume(array), why)


def test_detect_refuses_a_label_map_before_loading_a_model(tmp_path, capsys):
    labels = tmp_path / "labels.nii.gz"
    write_volume(labels, Volume(np.arange(4 * 32 * 32).reshape(4, 32, 32).astype(np.uint8) % 3))
    code = main(["detect", str(labels), "-o", str(tmp_path / "out.seg.nrrd"), "--progress", "quiet"])
    assert code == 2 and "does not look like a CT" in capsys.readouterr().err
    assert not (tmp_path / "out.seg.nrrd").exists()
