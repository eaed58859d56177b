"""Every handler of the IExplain panel, without Qt: the widget forwards its signals here and shows what it is told.

``PanelPresenter`` acts on the real MRML scene, the module's logic and the parameter node; everything it shows or
asks goes through :class:`PanelView`, which ``IExplainWidget`` implements with its widgets and the tests implement
with a strict recorder. Handlers take the new value as an argument (``onLegendToggled(False)``) and write it into the
parameter node themselves, so they never read a value the parameter-node binding has not copied yet: Qt calls slots
in connection order, and the selectors used to be connected before that binding (issue 26, fault 11).

Rules that live here (issue 26):
- the model choice survives a closed scene (``Clear(0)`` empties the parameter node) and a restored one (a path from
  another machine): remembered in the settings, put back after every close and load (fault 2);
- Next study and Close Scene ask when the segmentation holds corrections not exported yet (fault 5);
- a finished run shows the worker's warnings, the not-a-CT-angiogram one first, in the status and as a banner (1);
- the chosen finding stays chosen when the table is rebuilt, so a second review choice works (fault 7);
- choosing a segmentation brings its own table, heat map and CT (fault 8); a reopened scene shows its findings, and
  a run that ends while the panel is hidden changes no view and no editor until the panel is shown again (fault 12);
- a run's findings are measured once, by the run; edits re-measure only the edited segment (fault 6).

And of issue 23 (the candidates method): the method choice survives a closed scene like the model choice; a
candidates result shows each finding's score and calibre class, and a score-threshold slider that hides the
findings below it and shows the others, live (segment visibility only: nothing runs or is measured again); the
table marks the hidden ones.
"""

from __future__ import annotations

import json
import logging
import traceback
from abc import ABC, abstractmethod
from typing import Any, cast
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from . import panel_state
from .commands import MODEL_KIND_OF_METHOD, MODEL_SETTING_OF_KIND, detectSettingsFromParameters
from .dependencies import DependencyError
from .detection import HEATMAP_REFERENCE, TABLE_REFERENCE, DetectionResults
from .export import unreviewedSegmentNames
from .findings_table import Finding, FindingsModel, SegmentChangeWatch, panelRowTexts
from .heatmap import HEATMAP_ATTRIBUTE, SOURCE_CT_REFERENCE, defaultInputVolume, heatmapLegend, showHeatmapOverlay
from .provenance import STUDY_FILE_ATTRIBUTE
from .run_controller import RunController, RunKind, RunState
from .score_threshold import applyScoreThreshold, isBelowThreshold, scoreThreshold
from .segments import REVIEW_STATUSES, RUN_SETTINGS_ATTRIBUTE, WARNINGS_ATTRIBUTE, setIterationVisible
from .study_list import StudyWorklist

UNEXPORTED_ATTRIBUTE = "IExplain.UnexportedCorrections"  # "1" once edited or reviewed after the last export
WARNED_MARK = "\u26a0 "


@dataclass(frozen=True)
class FindingRow:
    """One row of the panel's findings table."""

    segmentId: str
    visible: bool
    texts: tuple[str, ...]  # name, volume, score, [calibre,] slices, review (panelRowTexts)
    belowThreshold: bool = False  # a candidate scoring below the threshold: hidden, and shown dimmed


class PanelView(ABC):
    """What the presenter needs from the panel's widgets. Only these names: a fake must not accept any other."""

    # -- parameter node, status, log ----------------------------------------------------------------------------------
    @abstractmethod
    def bindParameterNode(self, node) -> None:
        """Bind the widgets to ``node`` (``connectGui``), or unbind them (None)."""

    @abstractmethod
    def setStatus(self, text: str) -> None: ...

    @abstractmethod
    def setBanner(self, text: str) -> None:
        """A warning over the results; hidden when ``text`` is empty."""

    @abstractmethod
    def appendLog(self, text: str) -> None: ...

    @abstractmethod
    def clearLog(self) -> None: ...

    @abstractmethod
    def expandLog(self) -> None: ...

    @abstractmethod
    def setProgress(self, percent: int | None) -> None: ...

    # -- buttons and choices --------------------------------------------------------------------------------------
    @abstractmethod
    def setButtons(self, apply: panel_state.ButtonState, export: panel_state.ButtonState,
                   finetune: panel_state.ButtonState, nextStudy: bool, advanced: bool) -> None: ...

    @abstractmethod
    def setChoiceIndexes(self, methodIndex: int, deviceIndex: int) -> None:
        """Method and device combo boxes (without emitting their change signals)."""

    @abstractmethod
    def setModels(self, choices: list[tuple[str, str]], index: int) -> None:
        """The detection model list, ``(label, weights path)``, and the row to select (-1: none)."""

    @abstractmethod
    def setFinetuneModels(self, choices: list[tuple[str, str]], index: int) -> None: ...

    @abstractmethod
    def modelPath(self) -> str: ...

    @abstractmethod
    def finetuneModelPath(self) -> str: ...

    @abstractmethod
    def setModelInfo(self, text: str) -> None: ...

    # -- findings -----------------------------------------------------------------------------------------------------
    @abstractmethod
    def showFindings(self, headers: list[str], rows: list[FindingRow]) -> None:
        """Rebuild the findings table (this clears the table's selection, as a QTableWidget does)."""

    @abstractmethod
    def setFindingReview(self, row: int, text: str) -> None:
        """The review text of a row (its last column)."""

    @abstractmethod
    def setScoreThreshold(self, visible: bool, value: float) -> None:
        """Show or hide the score-threshold slider and set its value (without emitting its change signal)."""

    @abstractmethod
    def selectFinding(self, row: int | None) -> None:
        """Select a row without emitting the selection signal."""

    @abstractmethod
    def setReviewChoice(self, index: int) -> None: ...

    # -- folders and fields -------------------------------------------------------------------------------------------
    @abstractmethod
    def exportFolder(self) -> str: ...

    @abstractmethod
    def rememberExportFolder(self) -> None:
        """Add the export folder to the path box's history."""

    @abstractmethod
    def studyFolder(self) -> str: ...

    @abstractmethod
    def caseId(self) -> str: ...

    @abstractmethod
    def setCaseId(self, text: str) -> None: ...

    @abstractmethod
    def setStudyInfo(self, text: str) -> None: ...

    # -- segment editor and views -------------------------------------------------------------------------------------
    @abstractmethod
    def enterEditor(self) -> None: ...

    @abstractmethod
    def exitEditor(self) -> None: ...

    @abstractmethod
    def editorSceneStartClose(self) -> None: ...

    @abstractmethod
    def editorSceneEndClose(self, entered: bool) -> None: ...

    @abstractmethod
    def setEditorInputs(self, segmentationNode, ctNode) -> None: ...

    @abstractmethod
    def selectSegment(self, segmentId: str) -> None: ...

    @abstractmethod
    def jumpTo(self, centerRas) -> None: ...

    @abstractmethod
    def showSegmentEditorModule(self, segmentationNode, ctNode) -> None: ...

    # -- dialogs, files, timers ---------------------------------------------------------------------------------------
    @abstractmethod
    def confirm(self, text: str) -> bool:
        """OK/Cancel question; True for OK."""

    @abstractmethod
    def confirmYesNo(self, text: str) -> bool: ...

    @abstractmethod
    def info(self, text: str, detail: str = "") -> None: ...

    @abstractmethod
    def error(self, text: str, detail: str = "") -> None: ...

    @abstractmethod
    def chooseModelFile(self) -> str:
        """A model file the user picked, or "" when cancelled."""

    @abstractmethod
    def openFolder(self, path: str) -> None: ...

    @abstractmethod
    def restartApplication(self) -> None: ...

    @abstractmethod
    def startPolling(self) -> None: ...

    @abstractmethod
    def stopPolling(self) -> None: ...

    @abstractmethod
    def startFindingsTimer(self) -> None: ...

    @abstractmethod
    def stopFindingsTimer(self) -> None: ...


def viewMethodNames() -> set[str]:
    return set(PanelView.__abstractmethods__)


class PanelPresenter:
    """The panel's handlers (``on...``); ``logic`` is a :class:`~IExplainSlicerLib.module_logic.ModuleLogic`."""

    def __init__(self, view: PanelView, logic, scene):
        self.view = view
        self.logic = logic
        self.scene = scene
        self.node: Any = None  # the parameter node (IExplainParameterNode in Slicer)
        self.entered = False
        self.findings: FindingsModel | None = None
        self.segmentWatch: SegmentChangeWatch | None = None
        self.selectedSegmentId: str | None = None
        self.currentStudy: str | None = None
        self.heatmapVisible = True
        self._sceneTags: list[int] = []
        self._closingConfirmed = False
        self._writingNodes = False  # the presenter is setting selector-bound nodes: their echoes are not choices
        self._modelCount = 0
        self.controller = RunController(onStateChanged=lambda _state: self.updateButtons(),
                                        onProgress=self._showProgress, onLog=view.appendLog)

    # -- lifecycle ----------------------------------------------------------------------------------------------------
    def observeScene(self) -> None:
        """Scene close and load (VTK observers: no Qt needed, and tests fire them with the real scene)."""
        scene = self.scene
        self._sceneTags = [scene.AddObserver(scene.StartCloseEvent, lambda *_: self.onSceneStartClose()),
                           scene.AddObserver(scene.EndCloseEvent, lambda *_: self.onSceneEndClose()),
                           scene.AddObserver(scene.EndImportEvent, lambda *_: self.onSceneImported())]

    def onSetup(self) -> None:
        """The panel was built: observe the scene, bind the parameter node, fill the model lists."""
        self.observeScene()
        self.initializeParameterNode()
        self.updateModelList()

    def onCleanup(self) -> None:
        """Slicer is quitting: stop the worker tree, remove its temporary files, let go of every observer."""
        self.view.stopPolling()
        self._watchSegments(None)
        self.controller.shutdown()
        for tag in self._sceneTags:
            self.scene.RemoveObserver(tag)
        self._sceneTags = []

    def onEnter(self) -> None:
        """The panel is shown: its node, its editor, and the findings of the scene as it is (a reopened scene)."""
        self.entered = True
        self.initializeParameterNode()
        self.view.enterEditor()
        self.updateModelList()
        self.showResults()

    def onExit(self) -> None:
        """Another module is shown: no Paint effect may keep acting elsewhere."""
        self.entered = False
        self.view.exitEditor()
        self._watchSegments(None)
        self.view.bindParameterNode(None)

    def onSceneStartClose(self) -> None:
        """Close Scene (or Next study): offer to export unexported corrections while their nodes still exist."""
        if not self._closingConfirmed and self.hasUnexportedCorrections() and self.view.confirm(
                "The findings hold corrections that were not exported. Export them now, before the scene "
                "closes? (Cancel closes without exporting.)"):
            self.onExport()
        self.controller.sceneClosing()  # a detection on this scene's CT is cancelled and never imported
        self.view.editorSceneStartClose()
        self._watchSegments(None)
        self.findings = None
        self.selectedSegmentId = None
        self.node = None
        self.view.bindParameterNode(None)

    def onSceneEndClose(self) -> None:
        self.controller.sceneClosed()
        self.view.editorSceneEndClose(self.entered)
        self.view.setBanner("")
        self.view.showFindings(self._headers(), [])
        self.view.setScoreThreshold(False, 0.0)
        method = self.logic.settings.chosenMethod()  # Clear(0) emptied the node: the user's method goes back in
        self.logic.getParameterNode().method = method if method in MODEL_KIND_OF_METHOD else "iexplain"
        self.initializeParameterNode(bind=self.entered)  # the widgets are bound only while the panel is shown
        self.updateModelList()  # Clear(0) emptied the parameter node: the chosen model goes back in (fault 2)

    def onSceneImported(self) -> None:
        """A scene was loaded or restored: its parameter node, a model that exists here, and its findings."""
        self.initializeParameterNode(bind=self.entered)
        self.updateModelList()
        self.showResults()

    def initializeParameterNode(self, bind: bool = True) -> None:
        node = self.logic.getParameterNode()
        self.node = node
        if bind:
            self.view.bindParameterNode(node)
        if not node.inputVolume:
            volume = defaultInputVolume(self.scene)
            if volume is not None:
                node.inputVolume = volume
        self.onParameterNodeModified()

    def onParameterNodeModified(self) -> None:
        node = self.node
        if node is None:
            return
        self.view.setChoiceIndexes(panel_state.indexOfValue(panel_state.METHOD_CHOICES, node.method),
                                   panel_state.indexOfValue(panel_state.DEVICE_CHOICES, node.device))
        self.updateButtons()

    # -- choices ------------------------------------------------------------------------------------------------------
    def onMethodChosen(self, index: int) -> None:
        method = panel_state.METHOD_CHOICES[index][0]
        self.logic.settings.rememberMethod(method)
        if self.node is not None:
            self.node.method = method
        self.updateModelList()

    def onDeviceChosen(self, index: int) -> None:
        if self.node is not None:
            self.node.device = panel_state.DEVICE_CHOICES[index][0]

    def updateModelList(self) -> None:
        """The models of the chosen method; the parameter node's model when it exists here, else the one the user
        chose last (settings), else the first."""
        method = self.node.method if self.node is not None else "iexplain"
        kind = MODEL_KIND_OF_METHOD[method]
        registry = self.logic.registry()
        entries = registry.models(kind)
        remembered = getattr(self.node, MODEL_SETTING_OF_KIND[kind]) if self.node is not None else ""
        if not remembered or registry.find(remembered) is None:
            remembered = self.logic.settings.chosenModel(kind)
        paths = [str(e.weightsPath) for e in entries]
        self._modelCount = len(entries)
        self.view.setModels([(e.label, str(e.weightsPath)) for e in entries],
                            panel_state.modelIndex(paths, remembered))
        segmenters = registry.models("segmenter")
        self.view.setFinetuneModels([(e.label, str(e.weightsPath)) for e in segmenters],
                                    0 if segmenters else -1)
        self.onModelSelected()

    def onModelSelected(self) -> None:
        entry = self.selectedModelEntry()
        self.view.setModelInfo(entry.summary() if entry else "No model for this method: import one.")
        if entry is not None:
            self.logic.settings.rememberModel(entry.kind, entry.weightsPath)
            if self.node is not None:
                setattr(self.node, MODEL_SETTING_OF_KIND[entry.kind], str(entry.weightsPath))
        self.updateButtons()

    def selectedModelEntry(self, finetune: bool = False):
        path = self.view.finetuneModelPath() if finetune else self.view.modelPath()
        return self.logic.registry().find(path) if path else None

    def onImportModel(self) -> None:
        path = self.view.chooseModelFile()
        if not path:
            return
        with self._reporting("Model import failed."):
            entry = self.logic.registry().importModel(path)
            self.updateModelList()
            self.view.info(f"Imported {entry.name}: {entry.summary()}")

    def onOpenModelsFolder(self) -> None:
        folder = self.logic.registry().userFolder
        folder.mkdir(parents=True, exist_ok=True)
        self.view.openFolder(str(folder))

    def onExportFolderChanged(self, _path: str) -> None:
        self.updateButtons()

    def onStudyFolderChanged(self, _path: str) -> None:
        """A study folder was chosen: Next study becomes available (it had no connection, fault 5)."""
        self.updateButtons()

    def updateButtons(self) -> None:
        node, controller = self.node, self.controller
        hasCt = bool(node is not None and node.inputVolume)
        apply = panel_state.applyButton(controller.state, controller.kind, hasCt, self._modelCount > 0)
        export = panel_state.exportButton(controller.busy, hasCt, bool(node is not None and node.outputSegmentation))
        finetune = panel_state.finetuneButton(controller.busy, self.view.exportFolder(),
                                              bool(self.view.finetuneModelPath()))
        self.view.setButtons(apply, export, finetune, bool(self.view.studyFolder()),
                             node is not None and node.method == "iexplain")

    # -- running ------------------------------------------------------------------------------------------------------
    def onApply(self) -> None:
        """Apply starts detection; while detection or finetuning runs the same button cancels it."""
        if self.controller.busy:
            self.controller.cancel()
            self.view.setStatus("Cancelling...")
            return
        with self._reporting("Failed to start detection."):
            if not self.confirmLicense(self.selectedModelEntry()) or not self.ensureRequirements():
                return
            node = self.node
            settings = detectSettingsFromParameters(node)
            ctNode = node.inputVolume
            self._startRun(RunKind.DETECTION, lambda: self.logic.startDetection(ctNode, settings),
                           self.logic.finishDetection, settings.method)

    def onFinetune(self) -> None:
        if self.controller.busy:
            return
        with self._reporting("Failed to start finetuning."):
            entry = self.selectedModelEntry(finetune=True)
            if entry is None:
                raise ValueError("Choose a segmenter model to finetune.")
            if not self.ensureRequirements():
                return
            folder, device = self.view.exportFolder(), self.node.device
            self._startRun(RunKind.FINETUNE, lambda: self.logic.startFinetune(entry, folder, device),
                           lambda run: run.finish())

    def confirmLicense(self, entry) -> bool:
        """Non-permissive weights need an explicit yes once (ExtensionsIndex tier rule); remembered in settings."""
        settings = self.logic.settings
        if settings.licenseAccepted(entry):
            return True
        if not self.view.confirmYesNo(f"The model {entry.name} is licensed under '{entry.license or 'unknown'}', "
                                      "which is not a permissive licence. Use it under those terms?"):
            return False
        settings.acceptLicense(entry)
        return True

    def ensureRequirements(self) -> bool:
        """Install what is missing; a package updated after Slicer loaded it needs a restart, offered here."""
        try:
            self.logic.setupPythonRequirements()
            return True
        except DependencyError as error:
            if not error.restartRequired:
                raise
            if self.view.confirm(f"{error}\n\nRestart Slicer now?"):
                self.view.restartApplication()
            return False

    def _startRun(self, kind: RunKind, startRun, finish, method: str = "iexplain") -> None:
        self.view.clearLog()
        self.view.setProgress(0)
        self.view.setBanner("")
        self.controller.start(kind, startRun, finish, method)
        self.view.setStatus(f"Starting {self.controller.title}...")
        self.view.startPolling()

    def _showProgress(self, state, overall) -> None:
        self.view.setProgress(overall.percent())
        self.view.setStatus(f"{state.text()} | overall {overall.text()}")

    def onPoll(self) -> None:
        outcome = self.controller.poll()
        if outcome is None:
            return
        self.view.stopPolling()
        status = panel_state.statusText(outcome)
        if outcome.state is RunState.FAILED:
            self.view.setStatus(status)
            self.view.expandLog()
            self.view.error(f"{outcome.kind.value.capitalize()} failed: {outcome.message}", outcome.log[-20000:])
        elif outcome.state is RunState.FINISHED and outcome.kind is RunKind.DETECTION:
            results = cast(DetectionResults, outcome.value)
            warnings = list(getattr(results, "warnings", []))
            self.view.setStatus(f"Warning: {warnings[0]}. {status}" if warnings else status)
            if self.node is not None:
                with self._writing():
                    self.node.outputSegmentation = results.segmentationNode
                    self.node.heatmapVolume = results.heatmapNode
                    self.node.findingsTable = results.tableNode
            self.showResults(results.findings)
        else:
            self.view.setStatus(status)
            if outcome.state is RunState.FINISHED:
                self.updateModelList()
        self.updateButtons()

    # -- results ------------------------------------------------------------------------------------------------------
    def onSegmentationChosen(self, segmentationNode) -> None:
        """Another segmentation: its own CT, heat map and findings table come with it (never the last run's)."""
        node = self.node
        if node is None or self._writingNodes:
            return
        with self._writing():
            node.outputSegmentation = segmentationNode
            if segmentationNode is not None:
                ctNode = segmentationNode.GetNodeReference(segmentationNode.GetReferenceImageGeometryReferenceRole())
                if ctNode is not None and ctNode.IsA("vtkMRMLScalarVolumeNode") and not ctNode.GetAttribute(
                        HEATMAP_ATTRIBUTE):
                    node.inputVolume = ctNode
                self._setHeatmap(segmentationNode.GetNodeReference(HEATMAP_REFERENCE))
                node.findingsTable = self._tableOf(segmentationNode)
        self.showResults()

    def onHeatmapChosen(self, heatmapNode) -> None:
        if self.node is None or self._writingNodes:
            return
        with self._writing():
            self._setHeatmap(heatmapNode)
        self.showResults()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """While the presenter sets nodes that selectors show, the selectors' change signals (Qt emits them at
        once, from inside the assignment) are echoes, not the user's choice: without this, the end of a run
        measured its findings three times."""
        writing, self._writingNodes = self._writingNodes, True
        try:
            yield
        finally:
            self._writingNodes = writing

    def _setHeatmap(self, heatmapNode) -> None:
        """The previous heat map leaves the views it was shown in before another one (or none) takes its place."""
        previous = self.node.heatmapVolume
        if previous is not None and previous is not heatmapNode:
            showHeatmapOverlay(self.scene, None, previous, False)
        self.node.heatmapVolume = heatmapNode

    def onHeatmapToggled(self, checked: bool) -> None:
        self.heatmapVisible = bool(checked)
        self.showHeatmap()

    def onLegendToggled(self, checked: bool) -> None:
        if self.node is not None:
            self.node.showLegend = bool(checked)
        self.showHeatmap()

    def onOpacityChanged(self, value: float) -> None:
        if self.node is not None:
            self.node.heatmapOpacity = float(value)
        self.showHeatmap()

    def onDropHeatmap(self) -> None:
        """Remove the heat map (a float volume the size of the CT) to free memory; findings keep their scores."""
        node = self.node
        heatmapNode = node.heatmapVolume if node is not None else None
        if heatmapNode is None:
            return
        showHeatmapOverlay(self.scene, node.inputVolume, heatmapNode, False)
        with self._writing():
            node.heatmapVolume = None
        self.scene.RemoveNode(heatmapNode)
        if self.findings is not None:
            self.findings.heatmapNode = None
        self.showHeatmap()

    def _tableOf(self, segmentationNode):
        """The findings table of this segmentation (referenced by it), made when it has none."""
        table = segmentationNode.GetNodeReference(TABLE_REFERENCE)
        if table is None:
            table = self.scene.AddNewNodeByClass("vtkMRMLTableNode", f"{segmentationNode.GetName()} findings")
            segmentationNode.SetNodeReferenceID(TABLE_REFERENCE, table.GetID())
        return table

    def resultMethod(self) -> str:
        """The method that made the shown segmentation: its run settings, else what its segments and map say."""
        node = self.node
        segmentationNode = node.outputSegmentation if node is not None else None
        if segmentationNode is not None:
            try:
                method = json.loads(segmentationNode.GetAttribute(RUN_SETTINGS_ATTRIBUTE) or "{}").get("method")
            except (json.JSONDecodeError, AttributeError):
                method = None
            if method in panel_state.SCORE_HEADERS:
                return str(method)
            if scoreThreshold(segmentationNode) is not None:
                return "candidates"
        heatmap = node.heatmapVolume if node is not None else None
        return "segmenter" if heatmap is not None and "probability" in (heatmap.GetName() or "") else "iexplain"

    def _headers(self, method: str | None = None) -> list[str]:
        method = method or self.resultMethod()
        calibre = ["Calibre"] if method == "candidates" else []
        return ["Show", "Finding", "Volume (mm³)", panel_state.SCORE_HEADERS[method], *calibre, "Slices", "Review"]

    def showResults(self, measured: list[Finding] | None = None) -> None:
        """Editor, findings, banner and overlay for the parameter node's segmentation and CT. Only while the panel
        is shown: a run that ends while the user works in another module waits for :meth:`onEnter`."""
        node = self.node
        if not self.entered or node is None:
            return
        segmentationNode, ctNode = node.outputSegmentation, node.inputVolume
        self.view.setEditorInputs(segmentationNode, ctNode)
        self.findings = None
        warnings: list[str] = []
        if segmentationNode is not None and ctNode is not None:
            warnings = json.loads(segmentationNode.GetAttribute(WARNINGS_ATTRIBUTE) or "[]")
            self.findings = FindingsModel(segmentationNode, ctNode, node.heatmapVolume, self._tableOf(segmentationNode),
                                          warnings, measured)
        self._watchSegments(segmentationNode if self.findings is not None else None)
        self.view.setBanner(f"Warning about this study: {warnings[0]}" if warnings else "")
        self.showHeatmap()
        self.refreshFindings(set() if measured is not None else None)
        threshold = scoreThreshold(self.findings.segmentationNode) if self.findings is not None else None
        self.view.setScoreThreshold(threshold is not None, threshold or 0.0)
        self.updateButtons()

    def _watchSegments(self, segmentationNode) -> None:
        if self.segmentWatch is not None:
            self.segmentWatch.stop()
            self.segmentWatch = None
            self.view.stopFindingsTimer()
        if segmentationNode is not None:
            self.segmentWatch = SegmentChangeWatch(segmentationNode)
            self.view.startFindingsTimer()

    def onFindingsTimer(self) -> None:
        """Edits collected since the last tick: re-measure those segments, and remember there is something to
        export."""
        changed = self.segmentWatch.take() if self.segmentWatch is not None else None
        if changed:
            self._markUnexported()
            self.refreshFindings(changed)

    def onRefreshFindings(self) -> None:
        self.refreshFindings()

    def showHeatmap(self) -> None:
        node = self.node
        if node is None or not node.inputVolume or not self.entered:
            return
        heatmapNode = node.heatmapVolume
        # over its own CT, even when the CT selector has moved on to another study since (fault 12)
        ownCt = heatmapNode.GetNodeReference(SOURCE_CT_REFERENCE) if heatmapNode is not None else None
        showHeatmapOverlay(self.scene, ownCt or node.inputVolume, heatmapNode, self.heatmapVisible,
                           node.heatmapOpacity)
        if heatmapNode is not None:
            heatmapLegend(self.scene, heatmapNode, self.heatmapVisible and node.showLegend)

    def refreshFindings(self, changedIds=None) -> None:
        """Re-measure what changed (everything when ``changedIds`` is None), rebuild the table, and select the
        chosen finding again (the rebuild clears the selection; fault 7)."""
        rows: list[FindingRow] = []
        method = self.resultMethod()
        if self.findings is not None:
            warned = WARNED_MARK if self.findings.warnings else ""
            displayNode = self.findings.segmentationNode.GetDisplayNode()
            threshold = scoreThreshold(self.findings.segmentationNode)
            for finding in self.findings.refresh(changedIds):
                visible = displayNode is None or bool(displayNode.GetSegmentVisibility(finding.segmentId))
                name, *rest = panelRowTexts(finding, withCalibre=method == "candidates")
                rows.append(FindingRow(finding.segmentId, visible, (warned + name, *rest),
                                       isBelowThreshold(finding.candidateScore, threshold)))
        self.view.showFindings(self._headers(method), rows)
        row = self.findings.rowOf(self.selectedSegmentId) if self.findings and self.selectedSegmentId else None
        if row is None:
            self.selectedSegmentId = None
        self.view.selectFinding(row)

    def onScoreThresholdChanged(self, value: float) -> None:
        """The slider moved: the candidates below ``value`` are hidden, the others shown; the table marks them. Only
        visibility changes, so nothing is measured again and no run starts."""
        if self.findings is None or scoreThreshold(self.findings.segmentationNode) is None:
            return
        applyScoreThreshold(self.findings.segmentationNode, value)
        self.refreshFindings(set())

    def onFindingVisibilityToggled(self, row: int, visible: bool) -> None:
        if self.findings is not None and 0 <= row < len(self.findings.findings):
            setIterationVisible(self.findings.segmentationNode, self.findings.findings[row].segmentId, visible)

    def onFindingSelected(self, row: int | None) -> None:
        if self.findings is None or row is None or not 0 <= row < len(self.findings.findings):
            return
        finding = self.findings.findings[row]
        self.selectedSegmentId = finding.segmentId
        self.view.setReviewChoice(REVIEW_STATUSES.index(finding.review))
        self.view.selectSegment(finding.segmentId)
        if finding.centerRas is not None:
            self.view.jumpTo(finding.centerRas)

    def onReviewStatusChosen(self, index: int) -> None:
        """The chosen finding's status and its row change; nothing is measured again."""
        if self.findings is None or self.selectedSegmentId is None:
            return
        finding = self.findings.setReview(self.selectedSegmentId, REVIEW_STATUSES[index])
        self._markUnexported()
        row = self.findings.rowOf(finding.segmentId)
        if row is not None:
            self.view.setFindingReview(row, panelRowTexts(finding)[-1])

    def onOpenSegmentEditor(self) -> None:
        if self.node is not None:
            self.view.showSegmentEditorModule(self.node.outputSegmentation, self.node.inputVolume)

    # -- export, next study -------------------------------------------------------------------------------------------
    def hasUnexportedCorrections(self) -> bool:
        segmentationNode = self.node.outputSegmentation if self.node is not None else None
        return segmentationNode is not None and segmentationNode.GetAttribute(UNEXPORTED_ATTRIBUTE) == "1"

    def _markUnexported(self) -> None:
        if self.findings is not None:
            self.findings.segmentationNode.SetAttribute(UNEXPORTED_ATTRIBUTE, "1")

    def onExport(self) -> None:
        node = self.node
        if not panel_state.exportButton(self.controller.busy, bool(node is not None and node.inputVolume),
                                        bool(node is not None and node.outputSegmentation)).enabled:
            return
        with self._reporting("Export failed."):
            segmentationNode, ctNode = node.outputSegmentation, node.inputVolume
            unreviewed = unreviewedSegmentNames(segmentationNode)
            if unreviewed and not self.view.confirm(
                    f"{len(unreviewed)} finding(s) are not reviewed yet: {', '.join(unreviewed)}. Export anyway?"):
                return
            folder = self.view.exportFolder()
            caseId = self.view.caseId().strip() or None
            result = self.logic.exportForFinetuning(segmentationNode, ctNode, folder, caseId)
            segmentationNode.SetAttribute(UNEXPORTED_ATTRIBUTE, "0")
            self.view.rememberExportFolder()
            self.updateButtons()
            warned = f" The study was exported as warned: {result.warnings[0]}" if result.warnings else ""
            self.view.info(f"Exported case {result.caseId} (version {result.version}) to {folder}.{warned}",
                           "\n".join(result.notes))

    def onNextStudy(self) -> None:
        """Close this study and open the next one of the folder that has not been exported yet."""
        folder = self.view.studyFolder()
        with self._reporting("Could not open the next study."):
            worklist = StudyWorklist(folder, self.view.exportFolder())
            study = worklist.next(self.currentStudy)
            if study is None:
                self.view.info(f"No study left to review in {folder}.")
                return
            if self.controller.busy and not self.view.confirm(
                    f"Detection is still running; stop it and open {study.name}?"):
                return
            if self.hasUnexportedCorrections() and not self.view.confirm(
                    f"The corrections of this study were not exported. Discard them and open {study.name}?"):
                return
            self.logic.settings.rememberStudyFolder(folder)
            self._closingConfirmed = True
            try:
                self.scene.Clear(0)
            finally:
                self._closingConfirmed = False
            self.currentStudy = str(study.path)
            ctNode = self.logic.loadVolume(str(study.path))
            ctNode.SetAttribute(STUDY_FILE_ATTRIBUTE, str(study.path))
            if self.node is None:
                self.initializeParameterNode()
            self.node.inputVolume = ctNode
            self.view.setCaseId("")
            self.view.setStudyInfo(f"{study.name}: {worklist.progressText()}")
            self.updateButtons()

    @contextmanager
    def _reporting(self, message: str) -> Iterator[None]:
        """Like ``slicer.util.tryWithErrorDisplay``: an error becomes a message box, never a dead slot."""
        try:
            yield
        except Exception as error:
            logging.exception("IExplain: %s", message)
            self.view.error(f"{message} {error}", traceback.format_exc())

