"""DICOM conformance, judged by DICOM's own validator (``dciodvfy``, dicom3tools): every DICOM file IExplain writes
(the synthetic CT images of ``iexplain synth --layout rspect``, DICOM SEG on a synthetic study, on an anonymised
one and on the real POPI series) has no "Error" line. CI installs dicom3tools, so these never skip there."""

from __future__ import annotations

import numpy as np

from IExplainLib.cli.main import main
from IExplainLib.io import read_volume, write_dicom_seg


def _seg_for(ct, path):
    array = np.zeros(ct.shape, np.uint8)
    z, y, x = (n // 2 for n in ct.shape)
    array[z - 2:z + 2, y - 6:y + 6, x - 6:x + 6] = 1
    array[z + 2:z + 4, y + 8:y + 12, x + 8:x + 12] = 2
    return write_dicom_seg(path, ct.with_array(array), source=ct)


def test_synthetic_ct_images_validate(synthetic_dicom, dciodvfy):
    files = sorted(synthetic_dicom[0].glob("*.dcm"))
    assert len(files) == 12
    for path in files:
        assert dciodvfy(path, "CTImage") == [], path


def test_seg_of_a_synthetic_study_validates(synthetic_dicom, tmp_path, dciodvfy, capsys):
    series, truth = synthetic_dicom
    assert main(["convert", str(truth), str(tmp_path / "truth.dcm"), "--reference-dicom", str(series)]) == 0
    assert dciodvfy(tmp_path / "truth.dcm", "Segmentation") == []
    assert dciodvfy(_seg_for(read_volume(series), tmp_path / "two.dcm"), "Segmentation") == []
    capsys.readouterr()


def test_seg_of_an_anonymised_study_validates(anonymised_copy, tmp_path, dciodvfy):
    assert dciodvfy(_seg_for(read_volume(anonymised_copy), tmp_path / "anon.dcm"), "Segmentation") == []


def test_seg_of_the_real_popi_series_validates(popi_volume, tmp_path, dciodvfy):
    assert dciodvfy(_seg_for(popi_volume, tmp_path / "popi.dcm"), "Segmentation") == []
