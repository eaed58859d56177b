"""DICOM series rules on real slices edited with pydicom: position order, duplicates, gaps, tilt, missing tags."""

from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest

from IExplainLib.errors import InputError, UnsupportedInputError
from IExplainLib.io import read_dicom_series, read_volume


@pytest.fixture
def popi_slices(popi_folder):
    """Six consecutive POPI slices (2 mm apart) as pydicom datasets, in position order."""
    files = sorted(popi_folder.glob("*.dcm"))[60:66]
    return sorted((pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2]))


def _write(folder, datasets, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{i:03d}.dcm" for i in range(len(datasets))]
    for dataset, name in zip(datasets, names):
        dataset.save_as(folder / name)
    return folder


def test_popi_matches_simpleitk_and_keeps_uids_in_slice_order(popi_volume, popi_folder, ref):
    ref.assert_matches_sitk(popi_volume, ref.sitk_series(popi_folder))
    metadata = popi_volume.metadata
    assert popi_volume.shape == (141, 512, 512) and popi_volume.array.dtype == np.int16
    assert metadata["source_format"] == "dicom" and metadata["warnings"] == []
    positions = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])
                 for f in metadata["source_files"]]
    assert positions == sorted(positions) and len(set(positions)) == 141
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in metadata["source_files"]]
    assert uids == metadata["sop_instance_uids"]
    assert metadata["study_instance_uid"] and metadata["series_instance_uid"]


def test_order_comes_from_position_not_instance_number_or_file_name(tmp_path, popi_slices):
    expected = np.stack([d.pixel_array.astype(np.int32) - 1024 for d in popi_slices])
    shuffled = list(popi_slices)
    random.Random(3).shuffle(shuffled)
    for number, dataset in enumerate(shuffled, start=1):
        dataset.InstanceNumber = number  # a misleading instance order
    folder = _write(tmp_path / "series", shuffled, [f"{random.Random(i).randrange(10**6)}_{i}.dcm" for i in range(6)])
    volume = read_dicom_series(folder)
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.origin[2] == float(popi_slices[0].ImagePositionPatient[2])
    assert volume.spacing[2] == pytest.approx(2.0)


def test_single_file_reads_that_object_only(popi_folder):
    volume = read_volume(sorted(popi_folder.glob("*.dcm"))[10])
    assert volume.shape == (1, 512, 512)
    assert any("single slice" in w for w in volume.metadata["warnings"])


def test_missing_slice_is_refused(tmp_path, popi_slices):
    folder = _write(tmp_path / "gap", popi_slices[:3] + popi_slices[4:])
    with pytest.raises(UnsupportedInputError, match=r"irregular slice spacing \(2 to 4 mm"):
        read_volume(folder)


def test_duplicate_positions_are_refused(tmp_path, popi_slices):
    copy = pydicom.dcmread(popi_slices[0].filename)
    copy.SOPInstanceUID = pydicom.uid.generate_uid()
    folder = _write(tmp_path / "dup", popi_slices + [copy])
    with pytest.raises(UnsupportedInputError, match="2 images share a slice position"):
        read_volume(folder)


def test_other_orientation_in_the_series_is_left_out(tmp_path, popi_slices):
    odd = pydicom.dcmread(popi_slices[0].filename)
    odd.SOPInstanceUID = pydicom.uid.generate_uid()
    odd.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    folder = _write(tmp_path / "mixed", popi_slices + [odd])
    volume = read_volume(folder)
    assert volume.shape[0] == 6
    assert any("1 image(s) with another orientation" in w for w in volume.metadata["warnings"])


def test_series_uid_picks_one_of_several(tmp_path, popi_slices, real_ct):
    other = pydicom.dcmread(real_ct / "pydicom_small_ct/CT_small.dcm")
    folder = _write(tmp_path / "two", popi_slices + [other])
    with pytest.raises(UnsupportedInputError, match="holds 2 CT series"):
        read_volume(folder)
    assert read_volume(folder, series_uid=str(popi_slices[0].SeriesInstanceUID)).shape == (6, 512, 512)
    with pytest.raises(InputError, match="not found"):
        read_volume(folder, series_uid="1.2.3")


def test_integer_tilt_shift_is_undone_exactly(tmp_path, popi_slices):
    """Slice origins drifting one row per slice (a tilted stack) come back onto one rectilinear grid."""
    spacing = float(popi_slices[0].PixelSpacing[0])
    for k, dataset in enumerate(popi_slices):
        x, y, z = (float(v) for v in dataset.ImagePositionPatient)
        dataset.ImagePositionPatient = [x, y + k * spacing, z]
    volume = read_volume(_write(tmp_path / "tilt", popi_slices))
    assert volume.metadata["resampled"].startswith("gantry tilt")
    for k, dataset in enumerate(popi_slices[1:], start=1):
        original = dataset.pixel_array.astype(np.float32) - 1024
        np.testing.assert_array_equal(volume.array[k, k:, :], original[:-k, :])


def test_missing_pixel_spacing_pixel_data_and_position_are_refused(tmp_path, real_ct):
    source = real_ct / "pydicom_small_ct/CT_small.dcm"
    cases = {"PixelSpacing": (UnsupportedInputError, "no PixelSpacing"),
             "PixelData": (InputError, "CT image with no pixel data \\(a file cut short, or a header-only copy\\)"),
             "ImagePositionPatient": (UnsupportedInputError, "no ImagePositionPatient")}
    for tag, (error, message) in cases.items():
        dataset = pydicom.dcmread(source)
        delattr(dataset, tag)
        dataset.save_as(tmp_path / f"{tag}.dcm")
        with pytest.raises(error, match=message):
            read_volume(tmp_path / f"{tag}.dcm")


def test_missing_input_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_volume(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM files"):
        read_volume(tmp_path / "empty")


def test_popi_private_tag_quirk_does_not_break_reading(popi_folder):
    """POPI's malformed (01F1,1026) makes str(dataset) fail; the reader never needs it."""
    dataset = pydicom.dcmread(sorted(popi_folder.glob("*.dcm"))[0])
    with pytest.raises(Exception):
        str(dataset)
    assert read_volume(sorted(popi_folder.glob("*.dcm"))[0]).shape == (1, 512, 512)
