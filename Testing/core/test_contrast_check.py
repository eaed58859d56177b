"""A CT without opacified pulmonary arteries is recognised, and `detect` says so."""

import json

import numpy as np
import pytest

from IExplainLib.cli.main import main as cli_main
from IExplainLib.contrast_check import check_contrast
from IExplainLib.io import read_volume
from IExplainLib.phantoms import make_study
from IExplainLib.volume import Volume


def test_the_real_non_contrast_chest_ct_is_not_an_angiogram(popi_folder):
    check = check_contrast(read_volume(popi_folder))
    assert check.is_angiogram is False and check.opacified_share < 0.02
    assert "does not look like a CT angiogram" in check.warning()


@pytest.mark.parametrize("seed", [8003, 8006])
def test_phantom_angiograms_pass_poor_contrast_included(seed):
    check = check_contrast(make_study(seed, slices=24, size=192).volume)
    assert check.is_angiogram is True and check.warning() is None


def test_without_lungs_the_check_cannot_tell():
    check = check_contrast(Volume(np.full((8, 64, 64), 40, np.int16), (1.0, 1.0, 2.0)))
    assert check.is_angiogram is None and check.warning() is None


def test_detect_warns_on_the_non_contrast_ct_and_records_it(popi_folder, tmp_path, capsys):
    out = tmp_path / "popi.seg.nrrd"
    assert cli_main(["detect", str(popi_folder), "-o", str(out), "--method", "segmenter", "--device", "cpu",
                     "--progress", "quiet"]) == 0
    assert "does not look like a CT angiogram" in capsys.readouterr().err
    document = json.loads((tmp_path / "popi.findings.json").read_text())
    assert document["contrast"]["is_angiogram"] is False and len(document["warnings"]) == 1
