"""The panel's handlers (PanelPresenter) driven on the real Slicer core libraries, the real ``iexplain`` worker and
real files, through a strict view (issue 26). Each test names the fault of issue 26 it pins down."""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import slicer
from panel_harness import PanelTestLogic, StrictView
from slicer_test_data import iteration_labelmap
from test_settings import RestartedSettings

from IExplainLib.io import read_volume, write_heatmap, write_segmentation, write_volume
from IExplainSlicerLib import findings_table
from IExplainSlicerLib.detection import HEATMAP_REFERENCE, TABLE_REFERENCE
from IExplainSlicerLib.findings_table import COLUMNS
from IExplainSlicerLib.heatmap import loadHeatmap
from IExplainSlicerLib.panel_presenter import PanelPresenter, PanelView, viewMethodNames
from IExplainSlicerLib.provenance import recordSourceCt
from IExplainSlicerLib.score_threshold import THRESHOLD_ATTRIBUTE, applyScoreThreshold
from IExplainSlicerLib.segments import (ORIGINAL_OUTPUT_ATTRIBUTE, RUN_SETTINGS_ATTRIBUTE, iterationSegmentIds,
                                        loadDetectionSegmentation, reviewStatus)
from IExplainSlicerLib.settings import ModuleSettings
from IExplainSlicerLib.volumes import loadVolumeFile

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def panel(scene, tmp_path):
    settings = ModuleSettings(RestartedSettings().open, home=tmp_path / "home")
    logic = PanelTestLogic(scene, settings, REPO / "IExplain", tmp_path / "tmp", testing=True)
    view = StrictView(exportFolder=str(tmp_path / "dataset"))
    panel = PanelPresenter(view, logic, scene)
    view.presenter = panel
    panel.onSetup()
    panel.onEnter()
    yield panel
    panel.onCleanup()  # quitting: no worker, no scene observer left behind
    assert not panel.controller.busy and panel._sceneTags == []


def detectionResult(scene, tmp_path, ct, volume, name="run", heat=True):
    """What a run leaves in the scene (segmentation on ``ct``, its heat map and table references)."""
    labels = iteration_labelmap(volume.shape)
    seg = loadDetectionSegmentation(scene, write_segmentation(tmp_path / name / "pe.seg.nrrd",
                                                              volume.with_array(labels)), ct, f"{name} PE")
    recordSourceCt(seg, ct)
    if heat:
        values = np.where(labels > 0, 0.5, 0.0).astype(np.float32)
        heatmap = loadHeatmap(scene, write_heatmap(tmp_path / name / "heat.nrrd", volume.with_array(values)), ct)
        seg.SetNodeReferenceID(HEATMAP_REFERENCE, heatmap.GetID())
    return seg, labels


def showResult(panel, tmp_path, ct_file, ct_volume, name="run"):
    ct = loadVolumeFile(panel.scene, ct_file, name)
    seg, labels = detectionResult(panel.scene, tmp_path, ct, ct_volume, name)
    panel.onSegmentationChosen(seg)
    return ct, seg, labels


def finishRun(panel, timeout=300.0):
    deadline = time.monotonic() + timeout
    while panel.view.polling and time.monotonic() < deadline:
        panel.onPoll()
        time.sleep(0.05)
    assert not panel.view.polling, "the run did not end"


def chooseTinyModel(panel, tiny_classifier):
    panel.view.modelFile = str(tiny_classifier)
    panel.onImportModel()
    imported = next(i for i, (label, _) in enumerate(panel.view.models) if "imported" in label)
    panel.view.modelIndex = imported
    panel.onModelSelected()
    node = panel.node
    for name, value in (("igSteps", 2), ("igReferences", 1), ("smoothGradSamples", 1), ("maxIterations", 2)):
        setattr(node, name, value)
    node.filterClusters = False
    panel.onDeviceChosen(1)  # CPU only
    return panel.logic.registry().find(panel.view.modelPath())


# -- fault 13: the presenter holds the handlers; the fake view is strict -----------------------------------------------
def test_the_presenter_asks_only_for_view_methods_and_the_fake_view_has_no_others():
    tree = ast.parse((REPO / "IExplain" / "IExplainSlicerLib" / "panel_presenter.py").read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and ast.unparse(node.value) == "self.view"}
    assert used and used <= viewMethodNames(), f"not PanelView methods: {sorted(used - viewMethodNames())}"
    public = {name for name in vars(StrictView) if not name.startswith("_") and callable(vars(StrictView)[name])}
    assert public - viewMethodNames() == {"names"}, "the fake view must not accept names the real one lacks"
    assert set(StrictView.SELECTORS.values()) <= set(vars(PanelPresenter))
    with pytest.raises(TypeError):
        type("Incomplete", (PanelView,), {})()  # a view missing a method cannot even be built


def test_the_strict_view_refuses_a_name_the_panel_view_lacks():
    """Fault 13: ``RecordingEditor.__getattr__`` accepted any name, so a misspelt call passed. The presenter's fake
    view has no catch-all: an unknown or misspelt view method is an AttributeError, as on the real widget."""
    assert not {"__getattr__", "__getattribute__"} & set(vars(StrictView)), "a catch-all accepts any name"
    view = StrictView()
    with pytest.raises(AttributeError):
        view.setStatusText("Done")  # setStatus
    with pytest.raises(AttributeError):
        view.showFinding([], [])  # showFindings


def test_every_panel_handler_is_driven_by_these_tests():
    handlers = {name for name in vars(PanelPresenter) if name.startswith("on")}
    text = Path(__file__).read_text(encoding="utf-8")
    driven = set(re.findall(r"panel\.(on\w+)\(", text)) | set(re.findall(r"scene\.(Clear|Connect)\(", text))
    implicit = {"onSceneStartClose", "onSceneEndClose", "onSceneImported"}  # fired by the real scene's events
    assert handlers - implicit <= driven, f"handlers no test drives: {sorted(handlers - implicit - driven)}"
    assert {"Clear", "Connect"} <= driven and len(handlers) >= 30


# -- Apply with the real worker: findings measured once, warnings shown (faults 1 and 6) -------------------------------
def test_apply_runs_the_real_worker_and_measures_the_findings_once(panel, tmp_path, ct_file, tiny_classifier,
                                                                   monkeypatch):
    calls = []
    measure = findings_table.measureSegment
    monkeypatch.setattr(findings_table, "measureSegment", lambda *a, **k: calls.append(a[1]) or measure(*a, **k))
    ct = loadVolumeFile(panel.scene, ct_file, "patient")
    panel.node.inputVolume = ct
    entry = chooseTinyModel(panel, tiny_classifier)
    panel.view.answers = [] if panel.logic.settings.licenseAccepted(entry) else [True]
    panel.onApply()
    assert panel.view.errors == [] and panel.view.polling and panel.view.buttons["apply"].text == "Cancel"
    finishRun(panel)
    seg = panel.node.outputSegmentation
    assert seg is not None and seg.GetName() == "patient PE run 1", panel.view.errors
    assert panel.view.status.startswith("Done:")
    count = seg.GetSegmentation().GetNumberOfSegments()
    assert len(panel.view.rows) == count and len(calls) == count, "one measurement per segment for the whole run"
    assert panel.view.editorInputs == (seg, ct)
    assert seg.GetNodeReference(TABLE_REFERENCE) is panel.node.findingsTable


def test_a_warned_study_says_so_first_in_status_banner_table_and_export(panel, tmp_path, tiny_classifier):
    """Fault 1: the worker's not-a-CT-angiogram warning used to be dropped; the status read "Done: 0 segment(s)"."""
    from IExplainLib.phantoms import make_study

    study = make_study(8003, slices=8, size=192).volume
    array = np.asarray(study.array).copy()
    array[array > 150] = 40  # no opacified arteries: a chest CT without contrast
    path = write_volume(tmp_path / "plain-ct.nrrd", study.with_array(array))
    ct = loadVolumeFile(panel.scene, path)
    panel.node.inputVolume = ct
    entry = chooseTinyModel(panel, tiny_classifier)
    panel.view.answers = [] if panel.logic.settings.licenseAccepted(entry) else [True]
    panel.onApply()
    finishRun(panel)
    assert panel.view.status.startswith("Warning: this CT does not look like a CT angiogram"), panel.view.status
    assert "not look like a CT angiogram" in panel.view.banner
    assert any("[warning]" in line for line in panel.view.log)
    table = panel.node.findingsTable
    assert table.GetAttribute(findings_table.WARNED_ATTRIBUTE) == "1"
    column = COLUMNS.index("Study warning")
    assert all("angiogram" in table.GetCellText(r, column) for r in range(table.GetNumberOfRows()))
    assert all(row.texts[0].startswith("\u26a0") for row in panel.view.rows)
    panel.view.answers = [True] * 2  # export although unreviewed
    panel.onExport()
    assert panel.view.errors == [] and "exported as warned" in panel.view.infos[-1]
    sidecar = next((tmp_path / "dataset" / "labels").glob("*.json"))
    assert json.loads(sidecar.read_text())["warned"] is True


# -- fault 2: the model choice survives Close Scene and a restore ------------------------------------------------------
def test_the_model_choice_survives_scene_close_and_a_stale_restored_path(panel, tiny_classifier):
    chooseTinyModel(panel, tiny_classifier)
    chosen = panel.view.modelPath()
    assert panel.node.classifierModel == chosen and "imported" in panel.view.models[panel.view.modelIndex][0]
    panel.scene.Clear(0)  # Close Scene: empties the singleton parameter node
    assert panel.node.classifierModel == chosen, "Apply would have had no model"
    assert panel.view.modelPath() == chosen
    panel.node.classifierModel = "/another/machine/models/tiny-classifier.safetensors"  # a restored scene
    panel.onMethodChosen(0)
    assert panel.node.classifierModel == chosen and panel.view.modelPath() == chosen


def test_a_restored_scene_with_another_machines_model_path_gets_the_chosen_model(panel, tmp_path, tiny_classifier):
    """Fault 2, second half: a scene saved on another computer restores its parameter node with a model path that
    does not exist here; loading it (File > Load: the real scene's EndImportEvent) puts the chosen model back."""
    chooseTinyModel(panel, tiny_classifier)
    chosen = panel.view.modelPath()
    panel.node.classifierModel = "/another/machine/models/tiny-classifier.safetensors"
    panel.scene.SetURL(str(tmp_path / "saved" / "scene.mrml"))
    (tmp_path / "saved").mkdir()
    assert panel.scene.Commit()
    assert "/another/machine/models" in (tmp_path / "saved" / "scene.mrml").read_text(), "the stale path is saved"
    panel.scene.Clear(0)
    panel.scene.SetURL(str(tmp_path / "saved" / "scene.mrml"))
    panel.scene.Connect()  # the parameter node comes back from the file with the other machine's path
    assert panel.node.classifierModel == chosen, "Apply would have run a model that is not here"
    assert panel.view.modelPath() == chosen


# -- fault 3: export refuses a segmentation made on another CT ---------------------------------------------------------
def test_export_on_the_wrong_ct_is_refused_and_writes_nothing(panel, tmp_path, ct_file, ct_volume):
    ct_a, seg_a, _ = showResult(panel, tmp_path, ct_file, ct_volume, "A")
    other = ct_volume.with_array(ct_volume.array[::-1].copy())
    ct_b = loadVolumeFile(panel.scene, write_volume(tmp_path / "b.nrrd", other), "B")
    panel.node.inputVolume = ct_b  # the user picks B in the CT selector, A's segmentation still chosen
    panel.view.answers = [True]  # unreviewed: export anyway
    panel.onExport()
    assert len(panel.view.errors) == 1 and "refused: A PE was made on the CT A" in panel.view.errors[0]
    assert "not on B" in panel.view.errors[0]
    assert not (tmp_path / "dataset").exists(), "nothing written"
    panel.onSegmentationChosen(seg_a)  # choosing the segmentation brings its own CT back
    assert panel.node.inputVolume is ct_a


# -- fault 4: studies with the same series name never share a case -----------------------------------------------------
def test_two_studies_with_the_same_name_become_two_cases_and_supersede_only_their_own(panel, tmp_path, ct_volume):
    paths = []
    for index, seed in enumerate((1, 2)):
        paths.append(write_volume(tmp_path / f"study{index}" / "5 CTA Chest.nrrd",
                                  ct_volume.with_array(ct_volume.array + seed)))
    exported = []
    for path in paths + paths[:1]:
        ct = loadVolumeFile(panel.scene, path, "5: CTA Chest")
        seg, _ = detectionResult(panel.scene, tmp_path, ct, ct_volume, f"r{len(exported)}")
        panel.onSegmentationChosen(seg)
        panel.view.answers = [True]
        panel.onExport()
        assert panel.view.errors == []
        exported.append(re.search(r"Exported case (\S+) ", panel.view.infos[-1]).group(1))
    first, second, again = exported
    assert first != second and first.startswith("5-CTA-Chest-") and second.startswith("5-CTA-Chest-")
    assert again == f"{first}-v2"
    index = json.loads((tmp_path / "dataset" / "dataset.json").read_text())
    assert sorted(c["id"] for c in index["cases"]) == sorted([second, again]), "the other patient stays current"
    assert [c["id"] for c in index["superseded_cases"]] == [first]
    for case in index["cases"]:
        assert np.array_equal(read_volume(tmp_path / "dataset" / case["image"]).array,
                              ct_volume.array + (1 if case["id"] == again else 2)), "each case keeps its own CT"


# -- fault 5: Next study asks before discarding; the folder selector enables it ----------------------------------------
def test_next_study_asks_before_discarding_corrections_and_is_enabled_by_the_folder(panel, tmp_path, ct_file,
                                                                                   ct_volume):
    folder = tmp_path / "worklist"
    for name in ("a.nrrd", "b.nrrd"):
        write_volume(folder / name, ct_volume)
    assert panel.view.buttons["nextStudy"] is False
    panel.view._studyFolder = str(folder)
    panel.onStudyFolderChanged(str(folder))
    assert panel.view.buttons["nextStudy"] is True, "choosing a folder enables Next study"
    panel.onNextStudy()
    first = panel.node.inputVolume
    assert first.GetName() == "a" and panel.view.questions == []
    seg, labels = detectionResult(panel.scene, tmp_path, first, ct_volume)
    panel.onSegmentationChosen(seg)
    segment = iterationSegmentIds(seg)[0][1]
    slicer.util.updateSegmentBinaryLabelmapFromArray((labels == 2).astype(np.uint8), seg, segment, first)
    panel.onFindingsTimer()  # the edit is collected
    panel.view.answers = [False]
    panel.onNextStudy()
    assert "not exported" in panel.view.questions[-1]
    assert panel.node.inputVolume is first and seg.GetScene() is panel.scene, "Cancel keeps the study"
    panel.view.answers = [True]
    panel.onNextStudy()
    assert panel.node.inputVolume.GetName() == "b" and seg.GetScene() is None
    assert len(panel.view.questions) == 2, "the scene close did not ask a second time"


def test_close_scene_offers_to_export_unexported_corrections(panel, tmp_path, ct_file, ct_volume):
    ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    panel.view.selectedRow = None
    panel.onFindingSelected(0)
    panel.onReviewStatusChosen(2)  # completed
    panel.view.answers = [True, True]  # export now; then "not reviewed yet, export anyway"
    panel.scene.Clear(0)
    assert "not exported" in panel.view.questions[0]
    assert (tmp_path / "dataset" / "dataset.json").is_file(), "exported before the nodes went"
    assert panel.view.rows == [] and panel.view.banner == ""


# -- fault 7: the second review choice works ---------------------------------------------------------------------------
def test_the_second_review_choice_applies_after_the_table_rebuild(panel, tmp_path, ct_file, ct_volume):
    ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    panel.onFindingSelected(1)
    second = iterationSegmentIds(seg)[1][1]
    assert ("selectSegment", second) in panel.view.calls and panel.view.names()[-1] == "jumpTo"
    panel.onReviewStatusChosen(2)
    panel.onFindingsTimer()  # the status change is an event: the table is rebuilt, the selection cleared
    assert panel.view.selectedRow == 1, "the chosen finding is selected again"
    panel.onReviewStatusChosen(3)
    assert reviewStatus(seg.GetSegmentation().GetSegment(second)) == "flagged"
    assert panel.view.rows[1].texts[4] == "Flagged"


# -- fault 8: nodes of runs, tables per segmentation, the heat map can go, sequences refused ---------------------------
def test_choosing_another_segmentation_keeps_each_runs_table(panel, tmp_path, ct_file, ct_volume):
    ct, first, _ = showResult(panel, tmp_path, ct_file, ct_volume, "one")
    firstTable = panel.node.findingsTable
    second, _ = detectionResult(panel.scene, tmp_path, ct, ct_volume, "two", heat=False)
    panel.onSegmentationChosen(second)
    assert panel.node.findingsTable is not firstTable and panel.node.heatmapVolume is None
    assert firstTable.GetNumberOfRows() == 3, "the first run's table was not overwritten"
    panel.onSegmentationChosen(first)
    assert panel.node.findingsTable is firstTable and panel.node.heatmapVolume is not None


def test_the_heat_map_can_be_dropped(panel, tmp_path, ct_file, ct_volume):
    ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    heatmap = panel.node.heatmapVolume
    panel.onDropHeatmap()
    assert heatmap.GetScene() is None and panel.node.heatmapVolume is None
    panel.onRefreshFindings()
    assert len(panel.view.rows) == 3 and panel.view.rows[0].texts[2] == "-"


def test_a_sequence_frame_is_refused(panel, ct_file, fast_settings, tiny_classifier):
    """Fault 8, last sentence: only the current frame of a Sequence was analysed and the user was not told. Apply
    now refuses such a CT with a message that says why and what to do; no worker starts, no node is added."""
    for node in (slicer.vtkMRMLSequenceBrowserNode(), slicer.vtkMRMLSequenceNode()):
        panel.scene.RegisterNodeClass(node)  # what Slicer's Sequences module does at startup
    ct = loadVolumeFile(panel.scene, ct_file)
    browser = panel.scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "4D CT")
    sequence = panel.scene.AddNewNodeByClass("vtkMRMLSequenceNode")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    browser.AddProxyNode(ct, sequence, False)
    with pytest.raises(Exception, match="frame of the sequence 4D CT"):
        panel.logic.startDetection(ct, fast_settings)
    panel.node.inputVolume = ct
    chooseTinyModel(panel, tiny_classifier)
    panel.view.answers = [True] * 2
    nodes = panel.scene.GetNumberOfNodes()
    panel.onApply()
    assert panel.view.errors == [
        "Failed to start detection. ct is a frame of the sequence 4D CT: only the frame shown now would be "
        "analysed. Export that frame as its own volume (Sequences module) and run detection on it"]
    assert not panel.controller.busy and not panel.view.polling and panel.scene.GetNumberOfNodes() == nodes


# -- fault 11: handlers use the new value, not the parameter node's old one --------------------------------------------
def test_legend_opacity_and_segmentation_act_on_the_value_just_chosen(panel, tmp_path, ct_file, ct_volume):
    ct, first, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    view = panel.scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    panel.onHeatmapToggled(True)
    legend = next(panel.node.heatmapVolume.GetNthDisplayNode(i)
                  for i in range(panel.node.heatmapVolume.GetNumberOfDisplayNodes())
                  if panel.node.heatmapVolume.GetNthDisplayNode(i).IsA("vtkMRMLColorLegendDisplayNode"))
    assert legend.GetVisibility()
    panel.onLegendToggled(False)  # the parameter node still says True when this slot runs first
    assert not legend.GetVisibility()
    panel.onOpacityChanged(0.8)
    assert view.GetForegroundOpacity() == pytest.approx(0.8)
    second, _ = detectionResult(panel.scene, tmp_path, ct, ct_volume, "two")
    panel.onSegmentationChosen(second)
    assert panel.view.editorInputs == (second, ct), "the segmentation just chosen, not the previous one"
    panel.onHeatmapChosen(None)
    assert not view.GetForegroundVolumeID()
    panel.onHeatmapToggled(False)


# -- fault 12: a reopened scene shows its findings; overlays only on their own CT; hidden panel untouched --------------
def saveAndReopen(panel, tmp_path, ct, seg) -> None:
    """Save the scene with its CT, heat map and segmentation files, close it, and load it again (File > Load)."""
    from IExplainSlicerLib.volumes import writeVolumeNode

    volumes = [(ct, "ct.nrrd")] + ([(panel.node.heatmapVolume, "heat.nrrd")] if panel.node.heatmapVolume else [])
    for node, name in volumes:
        storage = node.CreateDefaultStorageNode()
        panel.scene.AddNode(storage)
        storage.SetFileName(str(writeVolumeNode(node, tmp_path / "saved" / name)))
        node.SetAndObserveStorageNodeID(storage.GetID())
    storage = seg.CreateDefaultStorageNode()
    panel.scene.AddNode(storage)
    storage.SetFileName(str(tmp_path / "saved" / "pe.seg.nrrd"))
    assert storage.WriteData(seg)
    seg.SetAndObserveStorageNodeID(storage.GetID())
    panel.scene.SetURL(str(tmp_path / "saved" / "scene.mrml"))
    assert panel.scene.Commit()
    panel.scene.Clear(0)
    assert panel.view.rows == []
    panel.scene.SetURL(str(tmp_path / "saved" / "scene.mrml"))
    panel.scene.Connect()  # File > Load scene


def test_a_saved_and_reopened_scene_shows_its_findings(panel, tmp_path, ct_file, ct_volume):
    ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    saveAndReopen(panel, tmp_path, ct, seg)
    assert len(panel.view.rows) == 3, "the reopened scene's findings are shown"
    assert panel.node.outputSegmentation.GetName() == "run PE"


def test_the_overlay_goes_only_on_its_own_ct_and_a_hidden_panel_changes_no_view(panel, tmp_path, ct_file,
                                                                                   ct_volume):
    ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    other = loadVolumeFile(panel.scene, ct_file, "prior study")
    mine, theirs = (panel.scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode") for _ in range(2))
    theirs.SetBackgroundVolumeID(other.GetID())
    panel.onHeatmapToggled(True)
    heatmapId = panel.node.heatmapVolume.GetID()
    assert mine.GetForegroundVolumeID() == heatmapId and mine.GetBackgroundVolumeID() == ct.GetID()
    assert not theirs.GetForegroundVolumeID(), "another patient's CT never gets this heat map"
    panel.node.inputVolume = other  # the CT selector moves on to the other study; the results stay chosen
    empty = panel.scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    panel.onOpacityChanged(0.6)
    assert empty.GetBackgroundVolumeID() == ct.GetID() and empty.GetForegroundVolumeID() == heatmapId
    assert not theirs.GetForegroundVolumeID(), "still not over the other study"
    panel.onExit()
    assert ("exitEditor",) in panel.view.calls
    panel.view.calls.clear()
    panel.node.outputSegmentation = None
    panel.showResults()
    assert panel.view.calls == [], "a hidden panel touches no view and no editor"
    panel.onEnter()
    assert ("enterEditor",) in panel.view.calls


# -- the remaining handlers --------------------------------------------------------------------------------------------
def test_visibility_editor_folders_and_cancel(panel, tmp_path, ct_file, ct_volume, tiny_classifier):
    ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    first = iterationSegmentIds(seg)[0][1]
    panel.onFindingVisibilityToggled(0, False)
    assert not seg.GetDisplayNode().GetSegmentVisibility(first)
    panel.onOpenSegmentEditor()
    assert panel.view.calls[-1] == ("showSegmentEditorModule", seg, ct)
    panel.onOpenModelsFolder()
    assert panel.view.calls[-1][0] == "openFolder" and Path(panel.view.calls[-1][1]).is_dir()
    panel.onExportFolderChanged(str(tmp_path / "elsewhere"))
    assert panel.view.buttons["finetune"].enabled is False, "no dataset.json there"
    panel.onParameterNodeModified()
    assert panel.view.calls[-1] == ("setChoiceIndexes", 0, 1) or panel.view.calls[-1][0] == "setChoiceIndexes"
    chooseTinyModel(panel, tiny_classifier)
    panel.view.answers = [True] * 2
    panel.onApply()
    assert panel.controller.busy
    panel.onApply()  # the same button cancels
    assert panel.view.status == "Cancelling..."
    finishRun(panel, timeout=60)
    assert panel.view.status.startswith("Cancelled") and panel.node.outputSegmentation is seg


def test_finetune_starts_from_the_exported_folder(panel, tmp_path, ct_file, ct_volume):
    showResult(panel, tmp_path, ct_file, ct_volume)
    panel.view.answers = [True]
    panel.onExport()
    panel.updateButtons()
    assert panel.view.buttons["finetune"].enabled
    panel.onFinetune()
    assert panel.view.errors == [] and panel.controller.busy and panel.controller.kind.value == "finetune"
    panel.onApply()  # cancel it: finetuning itself is tested in test_export
    finishRun(panel, timeout=60)
    assert panel.view.status.startswith("Cancelled")


def test_after_an_export_next_study_asks_nothing_and_skips_the_exported_study(panel, tmp_path, ct_volume):
    folder = tmp_path / "worklist"
    for name, shift in (("a.nrrd", 0), ("b.nrrd", 1)):
        write_volume(folder / name, ct_volume.with_array(ct_volume.array + shift))
    panel.view._studyFolder = str(folder)
    panel.onNextStudy()
    ct = panel.node.inputVolume
    seg, labels = detectionResult(panel.scene, tmp_path, ct, ct_volume)
    panel.onSegmentationChosen(seg)
    panel.onFindingSelected(0)
    panel.onReviewStatusChosen(3)  # flagged: a correction
    panel.onFindingsTimer()
    assert panel.hasUnexportedCorrections()
    panel.view.answers = [True]  # two findings unreviewed: export anyway
    panel.onExport()
    panel.onFindingsTimer()  # whatever the export touched is not a correction
    assert not panel.hasUnexportedCorrections() and panel.view.errors == []
    asked = len(panel.view.questions)
    panel.onNextStudy()
    assert len(panel.view.questions) == asked and panel.node.inputVolume.GetName() == "b"
    panel.onNextStudy()
    assert panel.node.inputVolume.GetName() == "b" and "No study left" in panel.view.infos[-1], (
        "a.nrrd is exported (its case ID carries a digest; the worklist knows it by its file)")


# -- issue 23: the candidates method (method choice, score and calibre, a live score threshold) -------------------------
def chooseReducer(panel, reducer):
    """Candidates method, the tiny reducer imported and chosen, CPU only."""
    panel.onMethodChosen(2)
    panel.view.modelFile = str(reducer)
    panel.onImportModel()
    panel.view.modelIndex = next(i for i, (label, _) in enumerate(panel.view.models) if "imported" in label)
    panel.onModelSelected()
    panel.onDeviceChosen(1)
    return panel.logic.registry().find(panel.view.modelPath())


def candidatesResult(scene, tmp_path, ct, volume, threshold=0.5):
    """What a candidates run leaves: three candidates scored 0.9 (central), 0.4 (lobar), 0.1 (segmental)."""
    labels = iteration_labelmap(volume.shape)
    rows = {k: {"finding": k, "score": score, "calibre": calibre}
            for k, score, calibre in ((1, 0.9, "central"), (2, 0.4, "lobar"), (3, 0.1, "segmental"))}
    seg = loadDetectionSegmentation(scene, write_segmentation(tmp_path / "cand" / "pe.seg.nrrd",
                                                              volume.with_array(labels)), ct, "cand PE", rows)
    recordSourceCt(seg, ct)
    seg.SetAttribute(RUN_SETTINGS_ATTRIBUTE, json.dumps({"method": "candidates"}))
    applyScoreThreshold(seg, threshold)
    return seg, labels


def test_a_candidates_run_lists_every_candidate_with_score_and_calibre_and_the_slider_hides_them_live(
        panel, candidate_study, tiny_reducer, monkeypatch):
    calls = []
    measure = findings_table.measureSegment
    monkeypatch.setattr(findings_table, "measureSegment", lambda *a, **k: calls.append(a[1]) or measure(*a, **k))
    ct = loadVolumeFile(panel.scene, candidate_study[1], "cta")
    panel.node.inputVolume = ct
    entry = chooseReducer(panel, tiny_reducer)
    threshold = json.loads(tiny_reducer.with_suffix(".json").read_text())["threshold"]
    assert entry.kind == "reducer" and panel.node.reducerModel == str(entry.weightsPath)
    assert panel.view.calls[-1] == ("setModelInfo", entry.summary()) and f"score threshold {threshold:.4f}" in \
        entry.summary()
    panel.view.answers = [] if panel.logic.settings.licenseAccepted(entry) else [True]
    panel.onApply()
    finishRun(panel)
    seg = panel.node.outputSegmentation
    assert panel.view.errors == [] and seg is not None and panel.view.status.startswith("Done:"), panel.view.status
    progress = [call[1] for call in panel.view.calls if call[0] == "setProgress"]
    assert 80 in progress and progress[-1] == 100, "the bar follows the candidates stage, then the end of the run"
    findingsFile = Path(seg.GetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE)).with_name("pe.findings.json")
    document = json.loads(findingsFile.read_text())
    rows = {row["finding"]: row for row in document["findings"]}
    assert document["method"] == "candidates" and document["summary"]["threshold"] == 0.0, "every candidate back"
    assert len(rows) == document["summary"]["candidates"] == seg.GetSegmentation().GetNumberOfSegments() >= 4
    assert panel.view.headers == ["Show", "Finding", "Volume (mm³)", "Score", "Calibre", "Slices", "Review"]
    assert panel.view.thresholdShown and panel.view.threshold == pytest.approx(threshold), "the card's threshold"
    assert panel.node.heatmapVolume.GetName() == "cta scores run 1"
    display = seg.GetDisplayNode()

    def expectShown(limit):
        for k, row in enumerate(panel.view.rows, start=1):  # finding 1 (the best score) first
            candidate = rows[k]
            assert row.texts[0] == f"PE {k} ({candidate['calibre']}, {candidate['score']:.4f})"
            assert row.texts[2:4] == (f"{candidate['score']:.4f}", candidate["calibre"])
            shown = candidate["score"] >= limit
            assert (row.visible, row.belowThreshold) == (shown, not shown)
            assert bool(display.GetSegmentVisibility(row.segmentId)) is shown
        return sum(row.visible for row in panel.view.rows)

    assert 0 < expectShown(threshold) < len(rows), "the card's threshold hides some candidates and shows others"
    assert len(calls) == len(rows), "measured once, by the run"
    panel.onScoreThresholdChanged(0.0)
    assert expectShown(0.0) == len(rows)
    best = rows[1]["score"]
    panel.onScoreThresholdChanged(best)
    assert expectShown(best) == sum(row["score"] >= best for row in rows.values()) >= 1
    assert seg.GetAttribute(THRESHOLD_ATTRIBUTE) == repr(best)
    assert len(calls) == len(rows) and not panel.controller.busy, "the slider neither measures nor runs"
    table = panel.node.findingsTable
    assert [table.GetCellText(r, COLUMNS.index("Calibre")) for r in range(len(rows))] == \
        [rows[k]["calibre"] for k in range(1, len(rows) + 1)]
    assert [float(table.GetCellText(r, COLUMNS.index("Score"))) for r in range(len(rows))] == \
        pytest.approx([rows[k]["score"] for k in range(1, len(rows) + 1)])


def test_the_method_and_reducer_choices_survive_scene_close_and_a_stale_restored_path(panel, tiny_reducer):
    entry = chooseReducer(panel, tiny_reducer)
    chosen = str(entry.weightsPath)
    assert panel.node.method == "candidates" and panel.node.reducerModel == chosen
    assert panel.view.buttons["advanced"] is False, "the iExplain settings do not apply to candidates"
    panel.scene.Clear(0)  # Close Scene: empties the parameter node
    assert panel.node.method == "candidates" and panel.node.reducerModel == chosen
    assert panel.view.modelPath() == chosen and [c for c in panel.view.calls if c[0] == "setChoiceIndexes"][-1][1] == 2
    assert {panel.logic.registry().find(path).kind for _label, path in panel.view.models} == {"reducer"}
    panel.node.reducerModel = "/another/machine/models/tiny-reducer.safetensors"  # a restored scene
    panel.onMethodChosen(2)
    assert panel.node.reducerModel == chosen and panel.view.modelPath() == chosen
    panel.onMethodChosen(0)
    panel.scene.Clear(0)
    assert panel.node.method == "iexplain"
    assert {panel.logic.registry().find(path).kind for _label, path in panel.view.models} <= {"classifier"}
    panel.onMethodChosen(2)
    assert panel.node.reducerModel == chosen and panel.view.modelPath() == chosen


def test_the_threshold_survives_a_reopened_scene_and_below_it_nothing_is_exported_unless_accepted(
        panel, tmp_path, ct_file, ct_volume):
    ct = loadVolumeFile(panel.scene, ct_file, "cta")
    seg, labels = candidatesResult(panel.scene, tmp_path, ct, ct_volume, threshold=0.5)
    panel.onSegmentationChosen(seg)
    assert panel.view.thresholdShown and panel.view.threshold == 0.5
    assert [(r.visible, r.belowThreshold) for r in panel.view.rows] == [(True, False), (False, True), (False, True)]
    assert [r.texts[2:4] for r in panel.view.rows] == [("0.9000", "central"), ("0.4000", "lobar"),
                                                       ("0.1000", "segmental")]
    panel.onScoreThresholdChanged(0.3)
    assert [r.visible for r in panel.view.rows] == [True, True, False]
    saveAndReopen(panel, tmp_path, ct, seg)
    assert panel.view.thresholdShown and panel.view.threshold == pytest.approx(0.3), "the scene keeps its threshold"
    assert [r.visible for r in panel.view.rows] == [True, True, False]
    assert [r.texts[2:4] for r in panel.view.rows][1] == ("0.4000", "lobar"), "scores and calibres saved with segments"
    panel.onScoreThresholdChanged(0.5)
    panel.onFindingSelected(0)
    panel.onReviewStatusChosen(2)  # completed
    panel.onFindingSelected(2)
    panel.onReviewStatusChosen(2)  # a low-scoring candidate the radiologist accepts: exported
    assert panel.view.rows[2].texts[-1] == "Completed"
    panel.onExport()
    assert panel.view.errors == [] and panel.view.questions == [], "a hidden candidate is not an unreviewed finding"
    sidecar = json.loads(next((tmp_path / "dataset" / "labels").glob("*.json")).read_text())
    assert sidecar["below_threshold_segments"] == ["PE 2 (lobar, 0.4000)"] and sidecar["score_threshold"] == 0.5
    assert sidecar["label"]["voxels"] == int(((labels == 1) | (labels == 3)).sum())
    panel.scene.Clear(0)
    assert panel.view.thresholdShown is False, "no result, no slider"


def test_the_slider_is_hidden_for_iexplain_results_and_changes_nothing_there(panel, tmp_path, ct_file, ct_volume):
    _ct, seg, _ = showResult(panel, tmp_path, ct_file, ct_volume)
    assert panel.view.thresholdShown is False and "Calibre" not in panel.view.headers
    panel.onScoreThresholdChanged(0.9)
    assert all(r.visible for r in panel.view.rows) and seg.GetAttribute(THRESHOLD_ATTRIBUTE) is None


def test_the_candidates_method_offers_the_bundled_reducer_with_its_cards_threshold(panel):
    panel.onMethodChosen(2)
    reducers = panel.logic.registry().models("reducer")
    bundled = [e for e in reducers if e.source == "bundled"]
    if not bundled:
        pytest.skip("no bundled reducer yet (Resources/Models/demo-reducer)")
    card = json.loads(bundled[0].weightsPath.with_suffix(".json").read_text())
    assert panel.view.models[0] == (bundled[0].label, str(bundled[0].weightsPath)) and panel.view.modelIndex == 0
    assert panel.node.method == "candidates" and panel.node.reducerModel == str(bundled[0].weightsPath)
    info = [call[1] for call in panel.view.calls if call[0] == "setModelInfo"][-1]
    assert f"score threshold {card['threshold']:.4f}" in info and info.startswith("reducer, bundled")
    assert panel.view.buttons["apply"].enabled is False, "no CT yet"
