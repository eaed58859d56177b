"""Every file and series in ../shared/data/real-ct has a stated outcome: read (values checked against pydicom or
SimpleITK) or refused with a specific one-line message. A file nobody thought about fails the coverage test."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib.errors import IExplainError, UnsupportedInputError
from IExplainLib.io import read_volume

CS = "cornerstone_ct_transfer_syntaxes"
CTIMAGE = f"{CS}/CTImage.dcm"
DECODABLE_SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
                      "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
                      "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                      "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"]
LOSSLESS = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
            "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90"}

# Single DICOM objects read as one-slice (or multi-frame) volumes, values checked against pydicom.
READ_FILES = [CTIMAGE, f"{CS}/CT1_J2KR", f"{CS}/CT2_J2KR", f"{CS}/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm",
              "covid19_ny_sbu_chest_slices/A002304/axial/19001231-076.dcm",
              "covid19_ny_sbu_chest_slices/A002304/axial/19010112-135.dcm",
              "covid19_ny_sbu_chest_slices/A072894/axial/19001203-066.dcm",
              "covid19_ny_sbu_chest_slices/A072894/axial/19010103-40.dcm",
              "pydicom_small_ct/CT_small.dcm", "pydicom_small_ct/693_J2KR.dcm", "pydicom_small_ct/693_J2KI.dcm",
              "pydicom_small_ct/693_UNCI.dcm", "pydicom_small_ct/eCT_Supplemental.dcm"]
# Series folders read and compared with SimpleITK's GDCM series reader.
READ_SERIES = ["popi_4dct_phase00_chest_ct", "totalsegmentator_example/example_ct_dicom", "dcmqi_ct3slice_seg",
               "pydicom_small_ct/dicomdirtests_CT/98892001/CT5N"]
# Paths refused, with the words the one-line message must contain.
REFUSED = {
    f"{CS}/CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm":
        "cannot decode transfer syntax 1.2.840.10008.1.2.4.53",
    f"{CS}/CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm":
        "cannot decode transfer syntax 1.2.840.10008.1.2.4.55",
    f"{CS}/no-pixel-data.dcm": "no pixel data",
    f"{CS}/no-pixel-spacing.dcm": "Ultrasound Image Storage",
    CS: "holds 4 CT series",
    "dcm_qa_ct_gantry_tilt/GE_head_tilt18.5_variable_spacing": "irregular slice spacing (1.08 to 7 mm",
    "dcm_qa_ct_gantry_tilt/Philips_localizer": "3 localizer/scout image(s)",
    "dcm_qa_ct_gantry_tilt": "holds 2 CT series",
    "covid19_ny_sbu_chest_slices/A002304/coronal/19001231-076.dcm": "coronal images",
    "covid19_ny_sbu_chest_slices/A002304/coronal/19010112-124.dcm": "coronal images",
    "covid19_ny_sbu_chest_slices/A002304/sagittal/19001231-080.dcm": "sagittal images",
    "covid19_ny_sbu_chest_slices/A002304/sagittal/19010112-134.dcm": "sagittal images",
    "covid19_ny_sbu_chest_slices/A072894/coronal/19001203-067.dcm": "coronal images",
    "covid19_ny_sbu_chest_slices/A072894/coronal/19010103-058.dcm": "coronal images",
    "covid19_ny_sbu_chest_slices/A072894/sagittal/19001203-086.dcm": "sagittal images",
    "covid19_ny_sbu_chest_slices/A072894/sagittal/19010103-066.dcm": "sagittal images",
    "covid19_ny_sbu_chest_slices/A072894/19001203-CAP-067.dcm": "coronal images",
    "covid19_ny_sbu_chest_slices/A072894/19010103-Chest-058.dcm": "coronal images",
    "covid19_ny_sbu_chest_slices/A072894": "holds 6 CT series",
    "covid19_ny_sbu_chest_slices/A002304/axial": "holds 2 CT series",
    "dcmqi_ct3slice_seg/liver.dcm": "is a DICOM SEG object (a segmentation), not a CT image",
    "dcmqi_ct3slice_seg/partial_overlaps.dcm": "is a DICOM SEG object (a segmentation), not a CT image",
    "pydicom_small_ct/dicomdirtests_CT": "holds 2 CT series",
    "pydicom_small_ct/dicomdirtests_CT/77654033/CT2": "irregular slice spacing (1.25 to 202 mm",
    "pydicom_small_ct/dicomdirtests_CT/77654033/CR1": "non-CT-image object(s) (Computed Radiography Image Storage)",
    "pydicom_small_ct/dicomdirtests_CT/77654033/CR2": "non-CT-image object(s) (Computed Radiography Image Storage)",
    "pydicom_small_ct/dicomdirtests_CT/77654033/CR3": "non-CT-image object(s) (Computed Radiography Image Storage)",
    "pydicom_small_ct/dicomdirtests_CT/98892001/CT2N": "2 localizer/scout image(s)",
    "vtkjs_LIDC2_uint8": "vtk.js HttpDataSet (index.json), not a supported input format",
    "vtkjs_LIDC2_uint8/LIDC2.vti/index.json": "not a supported image format",
    "vtkjs_LIDC2_uint8/LIDC2.vti/data/b1ad142a1ebc80f957fcdc329e876d51.gz": "not a supported image format",
}
NOT_DATA = ("README", "LICENSE")  # documentation next to the data: refused as "not a supported image format"
OTHER_COVERED = {  # files whose outcome a dedicated test states
    "dcm_qa_ct_gantry_tilt/Philips_phantom_tilt-18.5": "test_philips_gantry_tilt_is_corrected",
    "totalsegmentator_example/example_ct.nii.gz": "test_totalsegmentator_nifti_matches_nibabel",
    "totalsegmentator_example/example_ct_sm.nii.gz": "test_totalsegmentator_nifti_matches_nibabel",
    "totalsegmentator_example/example_seg.nii.gz": "test_totalsegmentator_nifti_matches_nibabel",
}


def _covered(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    if name.startswith(NOT_DATA):
        return True
    if relative.startswith(f"{CS}/CTImage.dcm_") and any(relative.endswith(f"_{s}.dcm") for s in DECODABLE_SYNTAXES):
        return True
    stated = set(READ_FILES) | set(READ_SERIES) | set(REFUSED) | set(OTHER_COVERED)
    return any(relative == item or relative.startswith(item + "/") for item in stated)


def test_every_file_has_a_stated_outcome(real_ct):
    files = sorted(str(p.relative_to(real_ct)) for p in real_ct.rglob("*") if p.is_file())
    assert len(files) > 300
    uncovered = [f for f in files if not _covered(f)]
    assert uncovered == []


@pytest.mark.parametrize("relative", READ_FILES)
def test_single_objects_read_like_pydicom(real_ct, ref, relative):
    path = real_ct / relative
    volume = read_volume(path)
    expected = ref.pydicom_hu(path)
    frames = volume.metadata["frame_numbers"]
    if frames != [None]:  # multi-frame: the volume is in slice-position order, the file in frame order
        expected = expected[[number - 1 for number in frames]]
    assert volume.shape == expected.shape
    np.testing.assert_allclose(volume.array, expected, rtol=0, atol=1e-3)
    assert volume.metadata["source_format"] == "dicom"
    assert volume.metadata["source_files"] == [str(path)]


def test_transfer_syntaxes_decode_to_the_same_hu(real_ct, ref):
    reference = read_volume(real_ct / CTIMAGE)
    for syntax in DECODABLE_SYNTAXES:
        path = next((real_ct / CS).glob(f"CTImage.dcm_*_{syntax}.dcm"))
        volume = read_volume(path)
        assert volume.metadata["transfer_syntaxes"] == [syntax]
        assert volume.spacing == reference.spacing and volume.origin == reference.origin
        np.testing.assert_allclose(volume.array, ref.pydicom_hu(path), atol=1e-2)
        difference = np.abs(volume.array.astype(float) - reference.array.astype(float))
        if syntax in LOSSLESS:
            assert difference.max() == 0, syntax
        else:  # lossy JPEG: close to the original, not equal; the 12-bit .51 file rescales by 2.0002442
            assert np.median(difference) < 25, syntax


@pytest.mark.parametrize("relative", READ_SERIES)
def test_series_read_like_simpleitk(real_ct, ref, relative, popi_volume):
    folder = real_ct / relative
    volume = popi_volume if relative.startswith("popi") else read_volume(folder)
    ref.assert_matches_sitk(volume, ref.sitk_series(folder, volume.metadata["series_instance_uid"]))


@pytest.mark.parametrize("relative,message", sorted(REFUSED.items()))
def test_refused_with_a_specific_message(real_ct, relative, message):
    with pytest.raises(UnsupportedInputError) as caught:
        read_volume(real_ct / relative)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_documentation_files_are_refused(real_ct):
    for path in [real_ct / "README.md", *real_ct.glob("*/LICENSE*"), *real_ct.glob("*/README*")]:
        with pytest.raises(UnsupportedInputError, match="not a supported image format"):
            read_volume(path)


def test_left_out_objects_are_reported(real_ct):
    dcmqi = read_volume(real_ct / "dcmqi_ct3slice_seg")
    assert dcmqi.shape == (3, 512, 512)
    assert any("2 DICOM SEG object(s)" in w for w in dcmqi.metadata["warnings"])
    scouts = read_volume(real_ct / "pydicom_small_ct/dicomdirtests_CT/98892001")
    assert scouts.shape[0] == 5
    assert any("2 localizer/scout image(s)" in w for w in scouts.metadata["warnings"])


def test_enhanced_ct_frames_are_placed_by_their_functional_groups(real_ct):
    volume = read_volume(real_ct / "pydicom_small_ct/eCT_Supplemental.dcm")
    assert volume.shape == (2, 512, 512)
    # IOP (-1,0,0 / 0,1,0): the normal points to -z, so frame z=-149 comes first along it.
    np.testing.assert_allclose(volume.direction[:, 0], [-1, 0, 0])
    np.testing.assert_allclose(volume.direction[:, 2], [0, 0, -1])
    assert volume.spacing[2] == pytest.approx(10.0)
    assert volume.origin[2] == pytest.approx(-149.0)
    assert volume.metadata["frame_numbers"] == [2, 1]
    assert any("RescaleType US" in w for w in volume.metadata["warnings"])


def test_philips_gantry_tilt_is_corrected(real_ct, ref):
    import pydicom

    folder = real_ct / "dcm_qa_ct_gantry_tilt/Philips_phantom_tilt-18.5"
    volume = read_volume(folder)
    assert volume.shape == (54, 512, 512)
    assert volume.metadata["resampled"] == "gantry tilt 18.5 deg corrected"
    assert any("gantry tilt 18.5 deg" in w for w in volume.metadata["warnings"])
    np.testing.assert_allclose(volume.direction.T @ volume.direction, np.eye(3), atol=1e-6)
    # Slices are 2.5 mm apart along the scanner axis, i.e. 2.5 * cos(18.5 deg) along the slice normal.
    assert volume.spacing[2] == pytest.approx(2.5 * np.cos(np.radians(18.5)), rel=2e-3)
    first = min((pydicom.dcmread(f) for f in folder.iterdir()),
                key=lambda d: np.dot(np.cross(np.array(d.ImageOrientationPatient[:3], float),
                                              np.array(d.ImageOrientationPatient[3:], float)),
                                     np.array(d.ImagePositionPatient, float)))
    np.testing.assert_allclose(volume.origin, np.array(first.ImagePositionPatient, float), atol=1e-6)
    np.testing.assert_allclose(volume.array[0], first.pixel_array * float(first.RescaleSlope) +
                               float(first.RescaleIntercept), atol=1e-3)


def test_totalsegmentator_nifti_matches_nibabel(real_ct):
    import nibabel

    for name in ("example_ct.nii.gz", "example_ct_sm.nii.gz", "example_seg.nii.gz"):
        path = real_ct / "totalsegmentator_example" / name
        volume = read_volume(path)
        image = nibabel.load(path)
        data = np.asanyarray(image.dataobj)
        np.testing.assert_array_equal(volume.array, data.transpose(2, 1, 0))
        np.testing.assert_allclose(volume.ijk_to_ras(), image.affine, atol=1e-4)
        assert volume.metadata["source_format"] == "nii"


def test_no_traceback_for_any_path(real_ct):
    """Reading anything in the data folder either works or raises a one-line IExplainError, never another type."""
    paths = [p for p in real_ct.rglob("*") if "popi" not in str(p) and "example_ct_dicom" not in str(p)]
    for path in paths:
        try:
            read_volume(path)
        except IExplainError as error:
            assert "\n" not in str(error), path
