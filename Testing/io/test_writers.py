"""Writers: Slicer .seg.nrrd read back by slicerio, exact NRRD/NIfTI round trips, heat maps, DICOM SEG."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib.errors import InputError, OutputExistsError
from IExplainLib.io import (EMBOLUS_TERMINOLOGY, SegmentInfo, read_segmentation, read_volume, write_dicom_seg,
                            write_heatmap, write_labelmap, write_segmentation, write_volume)
from IExplainLib.volume import Volume

# An oblique, anisotropic grid with awkward numbers: any axis swap or rounding shows.
OBLIQUE = np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0], [0.0, 0.8, -0.6]])


@pytest.fixture
def grid() -> Volume:
    values = np.random.default_rng(7).integers(-1024, 2000, size=(6, 9, 11)).astype(np.int16)
    return Volume(values, (0.7031250123, 0.85, 2.5), (-123.456789, 45.6, -301.25), OBLIQUE)


@pytest.fixture
def labels(grid) -> Volume:
    array = np.zeros(grid.shape, np.uint8)
    array[1:3, 2:5, 3:7] = 1
    array[4, 6:8, 1:2] = 3
    return grid.with_array(array)


def test_seg_nrrd_has_names_colours_labels_terminology_and_geometry(tmp_path, labels, grid):
    import slicerio

    segments = [SegmentInfo("PE iteration 1", 1, (1.0, 0.0, 0.0)), SegmentInfo("PE iteration 2", 2, (0.0, 1.0, 0.0)),
                SegmentInfo("PE iteration 3", 3, (0.0, 0.0, 1.0))]
    path = write_segmentation(tmp_path / "pe.seg.nrrd", labels, segments)
    segmentation = slicerio.read_segmentation(str(path))
    read = segmentation["segments"]
    assert [s["name"] for s in read] == ["PE iteration 1", "PE iteration 2", "PE iteration 3"]
    assert [s["labelValue"] for s in read] == [1, 2, 3]
    assert [list(s["color"]) for s in read] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    for segment in read:
        terminology = segment["terminology"]
        assert terminology["category"] == ["SCT", "49755003", "Morphologically Altered Structure"]
        assert terminology["type"] == ["SCT", "55584005", "Embolus"]
        assert terminology["anatomicRegion"] == ["SCT", "81040000", "Pulmonary artery"]
    np.testing.assert_allclose(segmentation["ijkToLPS"], grid.ijk_to_lps(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(segmentation["voxels"], labels.array.transpose(2, 1, 0))
    header = path.read_bytes()[:4000].decode("latin-1")
    assert ("TerminologyEntry:Segmentation category and type - DICOM master list"
            "~SCT^49755003^Morphologically Altered Structure~SCT^55584005^Embolus~^^"
            "~Anatomic codes - DICOM master list~SCT^81040000^Pulmonary artery~^^|") in header
    assert header.count("Segmentation.Status:notstarted") == 3  # model output starts unreviewed
    volume, infos = read_segmentation(path)
    np.testing.assert_array_equal(volume.array, labels.array)
    assert volume.same_grid(grid, tolerance=1e-12)
    assert [(i.name, i.label_value, i.color) for i in infos] == [(s.name, s.label_value, s.color) for s in segments]
    assert infos[0].terminology == EMBOLUS_TERMINOLOGY


def test_seg_nrrd_refuses_overwrite_and_unnamed_labels(tmp_path, labels):
    path = write_segmentation(tmp_path / "a.seg.nrrd", labels)  # default: "PE iteration k" per present label
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_segmentation(path, labels)
    assert path.read_bytes() == before
    with pytest.raises(InputError, match=r"values \[3\] have no segment"):
        write_segmentation(tmp_path / "b.seg.nrrd", labels, [SegmentInfo("only one", 1)])
    assert not (tmp_path / "b.seg.nrrd").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.seg.nrrd"]  # no partial files left behind
    write_segmentation(path, labels, overwrite=True)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_nrrd_and_mha_round_trips_are_exact(tmp_path, grid, suffix):
    axis_aligned = Volume(grid.array, grid.spacing, grid.origin, np.diag([1.0, -1.0, -1.0]))
    for name, volume in (("aligned", axis_aligned), ("oblique", grid)):
        back = read_volume(write_volume(tmp_path / f"{name}{suffix}", volume))
        np.testing.assert_array_equal(back.array, volume.array)
        assert back.array.dtype == volume.array.dtype and back.origin == volume.origin
        if name == "aligned" or suffix == ".mha":
            assert back.spacing == volume.spacing
            np.testing.assert_array_equal(back.direction, volume.direction)
        else:  # NRRD stores spacing x direction as one vector: an oblique axis comes back within one ulp
            np.testing.assert_allclose(back.ijk_to_lps(), volume.ijk_to_lps(), rtol=0, atol=1e-12)


def test_nifti_round_trip_keeps_array_exactly_and_geometry_to_float32(tmp_path, grid):
    back = read_volume(write_volume(tmp_path / "ct.nii.gz", grid))
    np.testing.assert_array_equal(back.array, grid.array)
    # NIfTI stores pixdim and the sform in float32: geometry survives to float32 precision, not bit for bit.
    np.testing.assert_allclose(back.ijk_to_lps(), grid.ijk_to_lps(), rtol=0, atol=1e-4)
    simple = Volume(grid.array, (0.75, 0.75, 2.0), (-250.0, -164.0, -164.5))
    exact = read_volume(write_volume(tmp_path / "simple.nii", simple))
    assert exact.spacing == simple.spacing and exact.origin == simple.origin


def test_labelmap_and_heatmap(tmp_path, labels, grid):
    back = read_volume(write_labelmap(tmp_path / "labels.nii.gz", labels))
    np.testing.assert_array_equal(back.array, labels.array)
    assert back.array.dtype == np.uint8
    heat = grid.with_array(np.linspace(0, 1, grid.array.size).reshape(grid.shape))
    back = read_volume(write_heatmap(tmp_path / "heat.nrrd", heat))
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, heat.array.astype(np.float32))
    assert back.same_grid(grid, tolerance=0)
    with pytest.raises(InputError, match="NaN"):
        write_heatmap(tmp_path / "bad.nrrd", grid.with_array(np.full(grid.shape, np.nan)))
    with pytest.raises(InputError, match="cannot write this format"):
        write_volume(tmp_path / "ct.png", grid)
    for writer in (write_volume, write_heatmap):  # one argument order for every writer: (path, data)
        with pytest.raises(TypeError, match=r"writers take \(path, Volume\)"):
            writer(grid, tmp_path / "swapped.nrrd")
    assert not (tmp_path / "swapped.nrrd").exists()


def test_dicom_seg_references_the_popi_series(tmp_path, popi_volume):
    import highdicom as hd

    array = np.zeros(popi_volume.shape, np.uint8)
    array[60:66, 200:230, 150:190] = 1
    array[80:82, 300:310, 300:320] = 2
    path = write_dicom_seg(tmp_path / "pe.dcm", popi_volume.with_array(array), source=popi_volume)
    seg = hd.seg.segread(path)
    assert seg.number_of_frames == 6 + 2
    assert seg.number_of_segments == 2
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["PE iteration 1", "PE iteration 2"]
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "55584005"
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == popi_volume.metadata["series_instance_uid"]
    assert seg.StudyInstanceUID == popi_volume.metadata["study_instance_uid"]
    expected_sops = {popi_volume.metadata["sop_instance_uids"][z] for z in (60, 61, 62, 63, 64, 65, 80, 81)}
    assert {item.ReferencedSOPInstanceUID for item in referenced.ReferencedInstanceSequence} >= expected_sops
    assert int(np.count_nonzero(seg.pixel_array)) == int(np.count_nonzero(array))
    with pytest.raises(OutputExistsError):
        write_dicom_seg(path, popi_volume.with_array(array), source=popi_volume)


def test_dicom_seg_needs_a_dicom_source(tmp_path, labels):
    with pytest.raises(InputError, match="needs a CT read from a DICOM series"):
        write_dicom_seg(tmp_path / "x.dcm", labels)
