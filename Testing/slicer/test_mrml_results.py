"""Detection output -> MRML on the real Slicer core libraries (PyPI ``slicer-core``): CT, segments, heat map, table."""

from __future__ import annotations

import numpy as np
import pytest
import slicer
import vtk
from slicer_test_data import iteration_labelmap

from IExplainLib.errors import InputError
from IExplainLib.io import write_heatmap, write_labelmap, write_segmentation
from IExplainSlicerLib.findings_table import COLUMNS, computeFindings, fillTableNode, measureFindings, panelRowTexts
from IExplainSlicerLib.heatmap import defaultInputVolume, loadHeatmap
from IExplainSlicerLib.segments import (EMBOLUS_TERMINOLOGY, iterationColor, iterationSegmentIds,
                                        loadDetectionSegmentation, reviewStatus, setIterationVisible, setReviewStatus)
from IExplainSlicerLib.volumes import ijkToRas, loadVolumeFile, volumeFromNode, voxelVolumeMm3


def test_ct_file_loads_into_a_volume_node_with_its_exact_geometry(scene, ct_file, ct_volume):
    node = loadVolumeFile(scene, ct_file)
    assert node.GetName() == "ct" and node.IsA("vtkMRMLScalarVolumeNode")
    assert np.array_equal(slicer.util.arrayFromVolume(node), ct_volume.array)
    assert np.allclose(ijkToRas(node), ct_volume.ijk_to_ras(), atol=1e-6)
    assert volumeFromNode(node).same_grid(ct_volume)
    assert voxelVolumeMm3(node) == pytest.approx(0.7 * 0.8 * 2.5)
    with pytest.raises(InputError, match="not found"):
        loadVolumeFile(scene, ct_file.parent / "nope.nrrd")


def _tag(segment, name):
    value = vtk.reference("")
    return str(value) if segment.GetTag(name, value) else None


@pytest.mark.parametrize("file_name", ["pe.seg.nrrd", "pe-labels.nii.gz"])
def test_detect_output_becomes_one_segment_per_iteration(scene, tmp_path, ct_file, ct_volume, file_name):
    labels = iteration_labelmap(ct_volume.shape)
    writer = write_segmentation if file_name.endswith(".seg.nrrd") else write_labelmap
    output = writer(tmp_path / file_name, ct_volume.with_array(labels))
    ct = loadVolumeFile(scene, ct_file)
    seg = loadDetectionSegmentation(scene, output, ct)

    pairs = iterationSegmentIds(seg)
    assert [k for k, _ in pairs] == [1, 2, 3]
    segmentation = seg.GetSegmentation()
    for k, segment_id in pairs:
        segment = segmentation.GetSegment(segment_id)
        assert segment.GetName() == f"PE iteration {k}"
        assert segment.GetColor() == pytest.approx(iterationColor(k))
        assert _tag(segment, segment.GetTerminologyEntryTagName()) == EMBOLUS_TERMINOLOGY
        assert reviewStatus(segment) == "not started"
        # exactly the voxels of iteration k, on the CT's own grid
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segment_id, ct)
        assert np.array_equal(mask > 0, labels == k)
    assert len({tuple(np.round(segmentation.GetSegment(s).GetColor(), 3)) for _, s in pairs}) == 3
    assert seg.GetNodeReference(seg.GetReferenceImageGeometryReferenceRole()).GetID() == ct.GetID()


def test_output_on_another_grid_is_refused(scene, tmp_path, ct_file, ct_volume):
    from IExplainLib.volume import Volume

    shifted = Volume(iteration_labelmap(ct_volume.shape), ct_volume.spacing,
                     tuple(np.add(ct_volume.origin, (5.0, 0, 0))), ct_volume.direction)
    output = write_segmentation(tmp_path / "shifted.seg.nrrd", shifted)
    ct = loadVolumeFile(scene, ct_file)
    before = scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    with pytest.raises(InputError, match="not on the grid"):
        loadDetectionSegmentation(scene, output, ct)
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == before  # nothing half-made left behind


def test_review_status_and_visibility_toggles(scene, tmp_path, ct_file, ct_volume):
    output = write_segmentation(tmp_path / "pe.seg.nrrd", ct_volume.with_array(iteration_labelmap(ct_volume.shape)))
    seg = loadDetectionSegmentation(scene, output, loadVolumeFile(scene, ct_file))
    (_, first), (_, second), _ = iterationSegmentIds(seg)
    setReviewStatus(seg.GetSegmentation().GetSegment(first), "flagged")
    assert reviewStatus(seg.GetSegmentation().GetSegment(first)) == "flagged"
    with pytest.raises(InputError, match="unknown review status"):
        setReviewStatus(seg.GetSegmentation().GetSegment(first), "done")
    setIterationVisible(seg, second, False)
    display = seg.GetDisplayNode()
    assert not display.GetSegmentVisibility(second) and display.GetSegmentVisibility(first)


def test_heat_map_loads_as_thresholded_overlay_and_findings_are_measured(scene, tmp_path, ct_file, ct_volume):
    labels = iteration_labelmap(ct_volume.shape)
    heat = np.where(labels > 0, 0.25, 0.0).astype(np.float32)
    heat[6, 11, 10] = 0.8  # the peak sits inside iteration 2
    ct = loadVolumeFile(scene, ct_file)
    heatmap = loadHeatmap(scene, write_heatmap(tmp_path / "heat.nrrd", ct_volume.with_array(heat)), ct)
    assert np.allclose(ijkToRas(heatmap), ijkToRas(ct)) and np.allclose(slicer.util.arrayFromVolume(heatmap), heat)
    display = heatmap.GetDisplayNode()
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.04)
    assert display.GetWindowLevelMax() == pytest.approx(0.8, rel=1e-4)

    seg = loadDetectionSegmentation(scene, write_segmentation(tmp_path / "pe.seg.nrrd", ct_volume.with_array(labels)),
                                    ct)
    findings = computeFindings(seg, ct, heatmap)
    voxel = 0.7 * 0.8 * 2.5
    assert [f.iteration for f in findings] == [1, 2, 3]
    assert [f.voxels for f in findings] == [int((labels == k).sum()) for k in (1, 2, 3)]
    assert findings[1].volumeMm3 == pytest.approx((labels == 2).sum() * voxel)
    assert [f.peakAttribution for f in findings] == pytest.approx([0.25, 0.8, 0.25])
    assert [(f.firstSlice, f.lastSlice) for f in findings] == [(2, 3), (5, 8), (10, 10)]
    ks, js, is_ = np.nonzero(labels == 3)
    expected = (ct_volume.ijk_to_ras() @ [is_.mean(), js.mean(), ks.mean(), 1.0])[:3]
    assert findings[2].centerRas == pytest.approx(tuple(expected))

    table = scene.AddNewNodeByClass("vtkMRMLTableNode")
    fillTableNode(table, findings)
    assert table.GetNumberOfRows() == 3 and table.GetNumberOfColumns() == len(COLUMNS)
    assert table.GetCellText(1, 1) == "PE iteration 2" and table.GetCellText(1, 4) == "6", "slices are 1-based"
    assert float(table.GetCellText(1, 2)) == pytest.approx(round((labels == 2).sum() * voxel, 2))


def test_heat_map_on_another_grid_is_refused(scene, tmp_path, ct_file, ct_volume):
    from IExplainLib.volume import Volume

    other = Volume(np.zeros(ct_volume.shape, np.float32), (1.0, 1.0, 1.0), ct_volume.origin, ct_volume.direction)
    with pytest.raises(InputError, match="not on the grid"):
        loadHeatmap(scene, write_heatmap(tmp_path / "heat.nrrd", other), loadVolumeFile(scene, ct_file))


def test_findings_are_remeasured_after_corrections_and_shown_in_the_panels_columns(scene, tmp_path, ct_file,
                                                                                    ct_volume):
    labels = iteration_labelmap(ct_volume.shape)
    ct = loadVolumeFile(scene, ct_file)
    seg = loadDetectionSegmentation(scene, write_segmentation(tmp_path / "pe.seg.nrrd", ct_volume.with_array(labels)),
                                    ct)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode")
    first, second, third = measureFindings(seg, ct, None, table)
    assert table.GetNumberOfRows() == 3
    voxel = 0.7 * 0.8 * 2.5
    assert panelRowTexts(second) == ("PE iteration 2", f"{(labels == 2).sum() * voxel:.0f}", "-", "6-9",
                                     "Not started"), "slices 1-based, as Slicer numbers them"

    setReviewStatus(seg.GetSegmentation().GetSegment(third.segmentId), "flagged")
    slicer.util.updateSegmentBinaryLabelmapFromArray(np.zeros(labels.shape, np.uint8), seg, first.segmentId, ct)
    first, _, third = measureFindings(seg, ct)  # no table node: only measured
    assert panelRowTexts(first)[1:4] == ("0", "-", "-") and panelRowTexts(third)[4] == "Flagged"
    assert table.GetCellText(2, COLUMNS.index("Review")) == "not started", "the table changes only when passed"


def test_the_panel_starts_on_the_first_volume_unless_it_is_a_heat_map(scene, tmp_path, ct_file, ct_volume):
    assert defaultInputVolume(scene) is None
    ct = loadVolumeFile(scene, ct_file)
    heatmap = loadHeatmap(scene, write_heatmap(tmp_path / "heat.nrrd", ct_volume.with_array(
        np.zeros(ct_volume.shape, np.float32))), ct)
    assert defaultInputVolume(scene) is ct
    scene.RemoveNode(ct)
    assert scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode") is heatmap
    assert defaultInputVolume(scene) is None


def test_each_run_of_a_ct_gets_its_own_number(scene, tmp_path, ct_file, ct_volume):
    """Issue 26, fault 8: every run was named "<CT> PE", and the panel overwrote the last run's table."""
    from slicer_test_data import iteration_labelmap

    from IExplainLib.io import write_segmentation
    from IExplainSlicerLib.detection import RUN_OF_ATTRIBUTE, nextRunNumber
    from IExplainSlicerLib.segments import loadDetectionSegmentation
    from IExplainSlicerLib.volumes import loadVolumeFile

    ct = loadVolumeFile(scene, ct_file)
    other = loadVolumeFile(scene, ct_file, "other")
    path = write_segmentation(tmp_path / "pe.seg.nrrd", ct_volume.with_array(iteration_labelmap(ct_volume.shape)))
    assert nextRunNumber(scene, ct) == 1
    for run in (1, 2):
        seg = loadDetectionSegmentation(scene, path, ct, f"ct PE run {run}")
        seg.SetAttribute(RUN_OF_ATTRIBUTE, f"{ct.GetID()} {run}")
    assert nextRunNumber(scene, ct) == 3 and nextRunNumber(scene, other) == 1
