"""What the panel shows, on the real Slicer core libraries: findings that follow edits, heat-map overlay, legend and
opacity, labels and button rules, overall progress, the worklist, the sample phantom, the editor's lifecycle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicer
from slicer_test_data import iteration_labelmap

from IExplainLib.io import write_heatmap, write_segmentation
from IExplainSlicerLib import findings_table, panel_state
from IExplainSlicerLib import segment_editor as editorLifecycle
from IExplainSlicerLib.findings_table import COLUMNS, FindingsModel, SegmentChangeWatch, panelRowTexts
from IExplainSlicerLib.heatmap import DEFAULT_OPACITY, heatmapLegend, loadHeatmap, showHeatmapOverlay
from IExplainSlicerLib.overall_progress import OverallProgress, formatDuration, weightsFor
from IExplainSlicerLib.run_controller import RunKind, RunState
from IExplainSlicerLib.sample_data import writePhantomSample
from IExplainSlicerLib.segments import loadDetectionSegmentation, reviewStatus
from IExplainSlicerLib.study_list import StudyWorklist
from IExplainSlicerLib.volumes import loadVolumeFile


@pytest.fixture
def result(scene, tmp_path, ct_file, ct_volume):
    labels = iteration_labelmap(ct_volume.shape)
    ct = loadVolumeFile(scene, ct_file)
    seg = loadDetectionSegmentation(scene, write_segmentation(tmp_path / "pe.seg.nrrd", ct_volume.with_array(labels)),
                                    ct)
    heat = np.where(labels > 0, 0.5, 0.0).astype(np.float32)
    heat[6, 11, 10] = 0.9
    heatmap = loadHeatmap(scene, write_heatmap(tmp_path / "heat.nrrd", ct_volume.with_array(heat)), ct)
    return ct, seg, heatmap, labels


def counting(monkeypatch) -> list:
    calls = []
    measure = findings_table.measureSegment

    def counted(*args, **kwargs):
        calls.append(args[1])
        return measure(*args, **kwargs)

    monkeypatch.setattr(findings_table, "measureSegment", counted)
    return calls


def test_a_review_click_measures_nothing_and_an_edit_measures_only_that_segment(scene, result, monkeypatch):
    ct, seg, heatmap, labels = result
    table = scene.AddNewNodeByClass("vtkMRMLTableNode")
    model = FindingsModel(seg, ct, heatmap, table)
    calls = counting(monkeypatch)
    first, second, third = model.refresh()
    assert len(calls) == 3 and [f.peakAttribution for f in model.findings] == pytest.approx([0.5, 0.9, 0.5])

    watch = SegmentChangeWatch(seg)
    calls.clear()
    model.setReview(second.segmentId, "flagged")  # what a review-status click does
    assert calls == [], "a review click must not re-measure (it re-measured every segment as a CT-size array)"
    assert reviewStatus(seg.GetSegmentation().GetSegment(second.segmentId)) == "flagged"
    assert table.GetCellText(1, COLUMNS.index("Review")) == "flagged"
    model.refresh(watch.take())  # the status change is an event too: re-read, not re-measured
    assert calls == [] and model.findings[1].review == "flagged"

    edited = labels == 1
    edited[0, 0:3, 0:3] = True
    slicer.util.updateSegmentBinaryLabelmapFromArray(edited.astype(np.uint8), seg, first.segmentId, ct)
    changed = watch.take()
    assert first.segmentId in changed
    rows = model.refresh(changed)
    assert calls == [first.segmentId], "only the edited segment is measured"
    assert rows[0].voxels == int(edited.sum()) and rows[2].voxels == third.voxels
    watch.stop()


def test_a_segment_added_by_hand_is_listed_and_can_be_reviewed(scene, result):
    ct, seg, heatmap, labels = result
    model = FindingsModel(seg, ct, heatmap)
    model.refresh()
    watch = SegmentChangeWatch(seg)
    added = seg.GetSegmentation().AddEmptySegment("", "missed embolus")
    mask = np.zeros(labels.shape, np.uint8)
    mask[7:9, 2:4, 2:4] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, seg, added, ct)
    rows = model.refresh(watch.take())
    assert [r.iteration for r in rows] == [1, 2, 3, None]
    assert rows[3].handAdded and rows[3].voxels == 8 and rows[3].peakAttribution == 0.0
    assert panelRowTexts(rows[3])[0] == "missed embolus (added)" and panelRowTexts(rows[3])[3] == "8-9"
    model.setReview(added, "completed")
    assert model.findings[3].review == "completed"
    seg.GetSegmentation().RemoveSegment(added)
    assert [r.iteration for r in model.refresh(watch.take())] == [1, 2, 3]


def composite(scene, background=None, foreground=None, label=None):
    node = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    node.SetBackgroundVolumeID(background.GetID() if background else None)
    node.SetForegroundVolumeID(foreground.GetID() if foreground else None)
    node.SetLabelVolumeID(label.GetID() if label else None)
    return node


def test_the_heat_map_overlay_keeps_every_other_layer(scene, result, ct_file):
    ct, _, heatmap, _ = result
    other = loadVolumeFile(scene, ct_file, "prior study")
    label = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    empty, busy = composite(scene), composite(scene, background=other, foreground=other, label=label)
    assert showHeatmapOverlay(scene, ct, heatmap, visible=False) == 1  # only the empty view gets the CT
    assert (busy.GetBackgroundVolumeID(), busy.GetForegroundVolumeID()) == (other.GetID(), other.GetID())
    assert empty.GetBackgroundVolumeID() == ct.GetID() and not empty.GetForegroundVolumeID()

    showHeatmapOverlay(scene, ct, heatmap, visible=True, opacity=0.7)
    assert empty.GetForegroundVolumeID() == heatmap.GetID() and empty.GetForegroundOpacity() == pytest.approx(0.7)
    # issue 26, faults 3 and 12: a view showing another CT keeps its own layers; the heat map never goes over it
    assert (busy.GetBackgroundVolumeID(), busy.GetForegroundVolumeID()) == (other.GetID(), other.GetID())
    assert busy.GetLabelVolumeID() == label.GetID()
    showHeatmapOverlay(scene, ct, heatmap, visible=False)
    assert not empty.GetForegroundVolumeID() and busy.GetBackgroundVolumeID() == other.GetID()
    assert DEFAULT_OPACITY == 0.4


def test_the_heat_map_legend_is_created_once_and_toggled(scene, result):
    _, _, heatmap, _ = result
    assert heatmapLegend(scene, heatmap, visible=False) is None, "no legend node until one is wanted"
    legend = heatmapLegend(scene, heatmap, visible=True)
    assert legend.IsA("vtkMRMLColorLegendDisplayNode") and legend.GetVisibility()
    assert legend.GetPrimaryDisplayNode() is heatmap.GetDisplayNode() and legend.GetTitleText() == "Attribution"
    assert heatmapLegend(scene, heatmap, visible=False) is legend and not legend.GetVisibility()
    assert scene.GetNumberOfNodesByClass("vtkMRMLColorLegendDisplayNode") == 1


def test_choices_have_readable_labels_and_stale_values_fall_back():
    from IExplainSlicerLib.commands import DEVICES, METHODS

    assert [v for v, _ in panel_state.METHOD_CHOICES] == list(METHODS)
    assert [v for v, _ in panel_state.DEVICE_CHOICES] == list(DEVICES)
    for value, label in panel_state.METHOD_CHOICES + panel_state.DEVICE_CHOICES:
        assert label != value and " " in label, "a label for people, not the raw value"
    assert panel_state.indexOfValue(panel_state.DEVICE_CHOICES, "cpu") == 1
    assert panel_state.indexOfValue(panel_state.DEVICE_CHOICES, "tpu") == 0


def test_the_remembered_model_stays_selected(tmp_path):
    paths = [str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")]
    assert panel_state.modelIndex(paths, str(tmp_path / "." / "b.safetensors")) == 1, "a reopened scene keeps it"
    assert panel_state.modelIndex(paths, "") == 0 and panel_state.modelIndex(paths, "/gone.safetensors") == 0
    assert panel_state.modelIndex([], "x") == -1


def test_buttons_are_enabled_only_when_they_can_run(tmp_path):
    apply = panel_state.applyButton
    assert apply(RunState.IDLE, None, True, True).enabled and apply(RunState.IDLE, None, True, True).text == "Apply"
    assert not apply(RunState.IDLE, None, False, True).enabled and not apply(RunState.FAILED, None, True, False).enabled
    running = apply(RunState.RUNNING, RunKind.FINETUNE, False, False)
    assert running.enabled and running.text == "Cancel" and "finetuning" in running.toolTip
    assert not apply(RunState.CANCELLING, RunKind.DETECTION, True, True).enabled
    assert not panel_state.exportButton(False, True, False).enabled, "Export with no segmentation is disabled"
    assert not panel_state.exportButton(True, True, True).enabled and panel_state.exportButton(False, True, True).enabled
    folder = tmp_path / "dataset"
    assert not panel_state.finetuneButton(False, str(folder), True).enabled, "no dataset.json yet"
    folder.mkdir()
    (folder / "dataset.json").write_text("{}")
    assert panel_state.finetuneButton(False, str(folder), True).enabled
    assert not panel_state.finetuneButton(True, str(folder), True).enabled
    assert not panel_state.finetuneButton(False, str(folder), False).enabled


def test_overall_progress_and_time_left():
    now = [0.0]
    overall = OverallProgress(weightsFor("detection"), clock=lambda: now[0])
    assert overall.update("read", 0.0) == 0.0 and overall.secondsLeft() is None and overall.text() == "0%"
    now[0] = 10.0
    assert overall.update("explain", 0.5) == pytest.approx(0.05 + 0.45), "read and prepare done, half of explain"
    assert overall.secondsLeft() == pytest.approx(10.0)
    assert overall.text() == "50% - about 10 s left"
    assert overall.update("read", 1.0) == pytest.approx(0.5), "an earlier stage never moves the bar back"
    assert overall.update("mystery", 0.9) == pytest.approx(0.5)
    assert overall.update("done", None) == 1.0 and overall.secondsLeft() == 0.0 and overall.text() == "100%"
    assert formatDuration(125) == "about 2 min" and formatDuration(4000) == "about 1 h 07 min"
    for kind, method in (("detection", "iexplain"), ("detection", "segmenter"), ("detection", "candidates"),
                         ("finetune", "")):
        assert sum(weightsFor(kind, method).values()) == pytest.approx(1.0)


def test_next_study_skips_exported_studies_and_wraps(tmp_path, ct_volume):
    from IExplainLib.io import write_volume

    studies, dataset = tmp_path / "worklist", tmp_path / "dataset"
    for name in ("b-patient.nrrd", "a patient.nii.gz", "c.mha"):
        write_volume(studies / name, ct_volume)
    write_segmentation(studies / "b-patient.seg.nrrd", ct_volume.with_array(np.zeros(ct_volume.shape, np.uint8)))
    (studies / "notes.txt").write_text("not a CT")
    worklist = StudyWorklist(studies, dataset)
    assert [s.name for s in worklist.studies()] == ["a patient", "b-patient", "c"]
    assert worklist.next().name == "a patient"
    dataset.mkdir()
    (dataset / "dataset.json").write_text(json.dumps({"format": "iexplain-dataset", "version": 1,
                                                      "cases": [{"id": "b-patient-v2"}]}))
    assert worklist.next(studies / "a patient.nii.gz").name == "c", "b-patient is exported already"
    assert worklist.next("c").name == "a patient", "wraps around"
    assert worklist.progressText() == "1 of 3 studies exported"
    assert StudyWorklist(tmp_path / "absent").next() is None


def test_the_sample_phantom_is_made_once_and_loads_on_its_truth(scene, tmp_path):
    sample = writePhantomSample(tmp_path, slices=24, size=64)
    assert sample.made and writePhantomSample(tmp_path, slices=24, size=64) == sample.__class__(
        sample.ct, sample.truth, made=False), "cached: a second request reuses the files"
    ct = loadVolumeFile(scene, sample.ct)
    truth = loadDetectionSegmentation(scene, sample.truth, ct)
    segment_id = truth.GetSegmentation().GetNthSegmentID(0)
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(truth, segment_id, ct)
    assert mask.shape == (24, 64, 64) and mask.any(), "the phantom has emboli, on the CT's grid"
    assert slicer.util.arrayFromVolume(ct).max() > 200, "contrast-filled arteries"


class RecordingEditor:
    """Records the calls the module makes on its ``qMRMLSegmentEditorWidget`` (a Qt widget: it cannot run here).

    Only the widget's real slots exist here (Slicer's qMRMLSegmentEditorWidget.h): a misspelt or invented name is
    an AttributeError, as it would be in Slicer (issue 26, fault 13: ``__getattr__`` used to accept any name)."""

    SLOTS = ("setActiveEffect", "installKeyboardShortcuts", "uninstallKeyboardShortcuts", "updateWidgetFromMRML",
             "removeViewObservations", "setSegmentationNode", "setSourceVolumeNode", "setCurrentSegmentID")

    def __init__(self):
        self.calls = []
        self.node = None
        for name in self.SLOTS:
            setattr(self, name, lambda *args, name=name: self.calls.append((name, *args)))

    def mrmlSegmentEditorNode(self):
        return self.node

    def setMRMLSegmentEditorNode(self, node):
        self.node = node
        self.calls.append(("setMRMLSegmentEditorNode", node))


def test_the_editor_lifecycle_is_the_segment_editor_modules(scene):
    editor = RecordingEditor()
    editorLifecycle.enterEditor(editor, scene)
    node = editor.node
    assert node.IsA("vtkMRMLSegmentEditorNode") and node.GetSingletonTag() == "IExplainSegmentEditor"
    assert scene.GetSingletonNode("SegmentEditor", "vtkMRMLSegmentEditorNode") is None, "the module's own node"
    assert [c[0] for c in editor.calls] == ["setMRMLSegmentEditorNode", "installKeyboardShortcuts",
                                            "updateWidgetFromMRML"]
    editor.calls.clear()
    editorLifecycle.exitEditor(editor)
    assert editor.calls == [("setActiveEffect", None), ("uninstallKeyboardShortcuts",), ("removeViewObservations",)]
    editor.calls.clear()
    editorLifecycle.sceneStartClose(editor)
    assert editor.calls == [("setActiveEffect", None), ("setSegmentationNode", None), ("removeViewObservations",)]
    editor.calls.clear()
    editorLifecycle.sceneEndClose(editor, scene, entered=False)
    assert editor.calls == []
    editorLifecycle.enterEditor(editor, scene)
    assert editor.node is node and "setMRMLSegmentEditorNode" not in [c[0] for c in editor.calls]
    assert editorLifecycle.segmentEditorNode(scene) is node


def test_the_recording_editor_rejects_names_the_widget_lacks(scene):
    editor = RecordingEditor()
    with pytest.raises(AttributeError):
        editor.setMasterVolumeNode(None)  # removed from Slicer 5.4's widget (MONAILabel#852)
    with pytest.raises(AttributeError):
        editor.setSegmentationNodee(None)
    editorLifecycle.setEditorInputs(editor, None, None)
    assert editor.calls == [("setSegmentationNode", None), ("setSourceVolumeNode", None)]


def test_an_edit_is_measured_in_the_segments_box_with_the_same_figures(scene, result, monkeypatch):
    """Issue 26, fault 6: each edit exported the segment as a CT-size labelmap (1.5 s a segment on 512x512x400;
    Testing/slicer/benchmark_edit_measurement.py). The figures must equal that exact, resampled measurement."""
    ct, seg, heatmap, labels = result
    heat = slicer.util.arrayFromVolume(heatmap)
    expected = {}
    for _, segmentId in findings_table.orderedSegmentIds(seg):
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segmentId, ct) > 0
        ks, js, is_ = np.nonzero(mask)
        center = findings_table.ijkToRas(ct) @ np.array([is_.mean(), js.mean(), ks.mean(), 1.0])
        expected[segmentId] = (int(mask.sum()), int(ks.min()), int(ks.max()), float(heat[mask].max()), center[:3])

    def ctSizeExport(*args, **kwargs):
        raise AssertionError("a CT-size array was made to measure one segment")

    monkeypatch.setattr(slicer.util, "arrayFromSegmentBinaryLabelmap", ctSizeExport)
    model = FindingsModel(seg, ct, heatmap)
    for finding in model.refresh():
        voxels, first, last, peak, center = expected[finding.segmentId]
        assert (finding.voxels, finding.firstSlice, finding.lastSlice) == (voxels, first, last)
        assert finding.peakAttribution == pytest.approx(peak) and finding.centerRas == pytest.approx(tuple(center))
    box, origin = findings_table.segmentBox(seg, model.findings[1].segmentId, ct)
    assert box.shape == (4, 3, 3) and origin == (5, 10, 9), "iteration 2's own box, not the CT"
