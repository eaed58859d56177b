"""DICOM SEG: geometry round trips (highdicom and IExplain's own reader), sources as anonymisers leave them,
``iexplain convert`` to DICOM SEG, and one-line refusals of CTs a SEG cannot reference."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from IExplainLib.cli.main import main
from IExplainLib.errors import InputError, UnsupportedInputError
from IExplainLib.io import (SegmentInfo, export_dicom_seg, read_dicom_seg, read_volume, write_dicom_seg,
                            write_segmentation, write_volume)
from IExplainLib.io.dicom_seg import seg_segments
from IExplainLib.volume import Volume


def _two_findings(volume) -> np.ndarray:
    array = np.zeros(volume.shape, np.uint8)
    z, y, x = (n // 2 for n in volume.shape)
    array[max(0, z - 3):z + 3, y - 8:y + 4, x - 6:x + 9] = 1
    array[z + 1:z + 3, y + 10:y + 14, x - 20:x - 12] = 2
    return array


def _same_voxels_three_ways(path, ct, expected):
    """highdicom by referenced SOP instance, highdicom's own volume geometry, and IExplain's reader all agree."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    by_source = seg.get_pixels_by_source_instance(source_sop_instance_uids=ct.metadata["sop_instance_uids"],
                                                  combine_segments=True, skip_overlap_checks=True)
    np.testing.assert_array_equal(by_source, expected)

    volume = seg.get_volume(combine_segments=True)  # highdicom's geometry: its own affine, its own axis order
    indices = np.argwhere(volume.array > 0)
    world = (volume.affine @ np.c_[indices, np.ones(len(indices))].T)[:3]
    ijk = np.rint((np.linalg.inv(ct.ijk_to_lps()) @ np.r_[world, np.ones((1, world.shape[1]))])[:3]).astype(int)
    placed = np.zeros(ct.shape, np.uint8)
    placed[ijk[2], ijk[1], ijk[0]] = volume.array[tuple(indices.T)]
    np.testing.assert_array_equal(placed, expected)

    labelmap, segments = read_dicom_seg(path, ct)
    assert labelmap.same_grid(ct)
    np.testing.assert_array_equal(labelmap.array, expected)
    return seg, segments


def test_popi_seg_round_trips_with_positive_spacing(tmp_path, popi_volume):
    expected = _two_findings(popi_volume)
    path = write_dicom_seg(tmp_path / "popi.dcm", popi_volume.with_array(expected), source=popi_volume)
    seg, segments = _same_voxels_three_ways(path, popi_volume, expected)
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SpacingBetweenSlices) == pytest.approx(popi_volume.spacing[2]) == 2.0  # source: -2.0
    assert float(pydicom.dcmread(popi_volume.metadata["source_files"][0]).SpacingBetweenSlices) < 0
    assert [s.name for s in segments] == ["PE iteration 1", "PE iteration 2"]
    assert all(s.terminology["type"] == ["SCT", "55584005", "Embolus"] for s in segments)
    assert all(s.terminology["anatomicRegion"] == ["SCT", "81040000", "Pulmonary artery"] for s in segments)


def test_anonymised_source_without_type2_attributes(tmp_path, anonymised_copy):
    ct = read_volume(anonymised_copy)
    assert "PatientBirthDate" not in pydicom.dcmread(ct.metadata["source_files"][0])
    expected = _two_findings(ct)
    path = write_dicom_seg(tmp_path / "anon.dcm", ct.with_array(expected), source=ct)
    seg, _ = _same_voxels_three_ways(path, ct, expected)
    assert seg.PatientBirthDate == "" and seg.PatientSex == "" and seg.AccessionNumber == ""
    assert seg.StudyInstanceUID == ct.metadata["study_instance_uid"]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.metadata["series_instance_uid"]


def test_negative_result_still_gets_a_seg(tmp_path, synthetic_dicom):
    ct = read_volume(synthetic_dicom[0])
    empty = ct.with_array(np.zeros(ct.shape, np.uint8))
    with pytest.raises(InputError, match="needs at least one segment"):
        write_dicom_seg(tmp_path / "none.dcm", empty, [], source=ct)
    path = write_dicom_seg(tmp_path / "none.dcm", empty, seg_segments([]), source=ct)
    labelmap, segments = read_dicom_seg(path, ct)
    assert [s.name for s in segments] == ["PE (none found)"] and not labelmap.array.any()


def test_convert_seg_nrrd_and_labelmap_to_dicom_seg(tmp_path, synthetic_dicom, capsys):
    series, truth = synthetic_dicom
    ct = read_volume(series)
    expected = _two_findings(ct)
    seg_nrrd = write_segmentation(tmp_path / "result.seg.nrrd", ct.with_array(expected),
                                  [SegmentInfo("PE iteration 1", 1), SegmentInfo("PE iteration 2", 2, (0, 1, 0))])
    out = tmp_path / "result.dcm"
    assert main(["convert", str(seg_nrrd), str(out), "--reference-dicom", str(series)]) == 0
    labelmap, segments = read_dicom_seg(out, ct)
    np.testing.assert_array_equal(labelmap.array, expected)
    assert [s.name for s in segments] == ["PE iteration 1", "PE iteration 2"]
    assert segments[1].color == pytest.approx((0, 1, 0), abs=0.02)

    assert main(["convert", str(truth), str(tmp_path / "truth.dcm"), "--reference-dicom", str(series)]) == 0
    truth_labels = read_volume(truth).array
    np.testing.assert_array_equal(read_dicom_seg(tmp_path / "truth.dcm", ct)[0].array, truth_labels)
    capsys.readouterr()


@pytest.mark.parametrize("case", ["no reference", "reference for nrrd", "exists", "other grid", "nifti reference"])
def test_convert_refuses_in_one_line(case, tmp_path, synthetic_dicom, capsys):
    series, truth = synthetic_dicom
    out = tmp_path / "out.dcm"
    args = ["convert", str(truth), str(out), "--reference-dicom", str(series)]
    expected = {"no reference": "--reference-dicom CT_DIR", "reference for nrrd": "is for DICOM SEG output",
                "exists": "already exists", "other grid": "is not on the grid", "nifti reference": "this one is nii"}
    if case == "no reference":
        args = args[:3]
    elif case == "reference for nrrd":
        args[2] = str(tmp_path / "out.nrrd")
    elif case == "exists":
        out.write_bytes(b"keep")
    elif case == "other grid":
        volume = read_volume(truth)  # one slice fewer than the CT
        write_volume(tmp_path / "cropped.nii.gz", Volume(volume.array[1:], volume.spacing, volume.origin,
                                                         volume.direction))
        args[1] = str(tmp_path / "cropped.nii.gz")
    else:
        write_volume(tmp_path / "ct.nii.gz", read_volume(series))
        args[4] = str(tmp_path / "ct.nii.gz")
    assert main(args) == 2
    stderr = capsys.readouterr().err.strip()
    assert expected[case] in stderr and len(stderr.splitlines()) == 1
    assert not out.exists() or out.read_bytes() == b"keep"


def test_resampled_and_multiframe_sources_are_refused(tmp_path, real_ct):
    tilted = read_volume(real_ct / "dcm_qa_ct_gantry_tilt" / "Philips_phantom_tilt-18.5")
    assert tilted.metadata["resampled"]
    with pytest.raises(UnsupportedInputError, match="resampled"):
        write_dicom_seg(tmp_path / "t.dcm", tilted.with_array(_two_findings(tilted)), source=tilted)
    enhanced = read_volume(real_ct / "pydicom_small_ct" / "eCT_Supplemental.dcm")
    with pytest.raises(UnsupportedInputError, match="multi-frame"):
        export_dicom_seg(tmp_path / "absent.seg.nrrd", real_ct / "pydicom_small_ct" / "eCT_Supplemental.dcm",
                         tmp_path / "e.dcm")
    assert enhanced.metadata["frame_numbers"][0] is not None
    assert not (tmp_path / "t.dcm").exists() and not (tmp_path / "e.dcm").exists()
