import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

# Developer mode ("Additional module paths" = <repo>/IExplain): the library sits one folder up. Installed, it sits in
# qt-scripted-modules/IExplainLib beside this file, which Slicer already put on sys.path.
_REPOSITORY_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if os.path.isdir(os.path.join(_REPOSITORY_ROOT, "IExplainLib")) and _REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, _REPOSITORY_ROOT)

from IExplainSlicerLib import export, panel_state  # noqa: E402
from IExplainSlicerLib import segment_editor as editorLifecycle  # noqa: E402
from IExplainSlicerLib.commands import DEVICES, METHODS, MODEL_SETTING_OF_KIND, detectSettingsFromParameters  # noqa
from IExplainSlicerLib.dependencies import DependencyError, ensureRequirements  # noqa: E402
from IExplainSlicerLib.detection import DetectionResults, DetectionRun, startDetectionRun  # noqa: E402
from IExplainSlicerLib.findings_table import FindingsModel, SegmentChangeWatch, panelRowTexts  # noqa: E402
from IExplainSlicerLib.finetuning import FinetuneRun, startFinetuneRun  # noqa: E402
from IExplainSlicerLib.heatmap import defaultInputVolume, heatmapLegend, showHeatmapOverlay  # noqa: E402
from IExplainSlicerLib.model_registry import ModelRegistry, bundledModelFolders  # noqa: E402
from IExplainSlicerLib.phantom_check import checkPhantomDetectionAndExport, checkResultsAndExport  # noqa: E402
from IExplainSlicerLib.run_controller import RunController, RunKind, RunState  # noqa: E402
from IExplainSlicerLib.sample_data import SAMPLE_CATEGORY, SAMPLE_NAME, SAMPLE_NODE_NAME, writePhantomSample  # noqa
from IExplainSlicerLib.segments import REVIEW_STATUSES, setIterationVisible  # noqa: E402
from IExplainSlicerLib.settings import ModuleSettings  # noqa: E402
from IExplainSlicerLib.study_list import StudyWorklist  # noqa: E402
from IExplainSlicerLib.worker import WorkerLauncher, slicerWorkerLauncher  # noqa: E402

# Reloaded in this order (a module after those it imports) so that edits take effect without restarting Slicer.
LIB_MODULES = ("process", "progress_tracker", "overall_progress", "job", "commands", "worker", "settings",
               "model_registry", "volumes", "segments", "heatmap", "findings_table", "dataset_folder", "export",
               "detection", "finetuning", "run_controller", "panel_state", "segment_editor", "dependencies",
               "sample_data", "study_list", "phantom_check")


class IExplain(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("IExplain")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["IExplain contributors"]
        self.parent.helpText = _(
            "Finds pulmonary emboli in CT pulmonary angiograms. The iExplain method turns a slice classifier's "
            "Integrated-Gradients explanations into one segment per iteration; a 3D segmenter trained on those "
            "pseudo-labels can be finetuned on your corrections. Research software, not for diagnosis. "
            '<a href="https://github.com/iexplain/SlicerIExplain/blob/main/docs/slicer.md">Documentation</a>.')
        self.parent.acknowledgementText = _(
            "Built on 3D Slicer, PyTorch, MONAI, Captum and timm. The method follows the iExplain paper "
            "(weakly supervised PE segmentation from image-level labels).")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """A phantom CTPA in the SampleData module, generated on first use (no download; see sample_data.py)."""
    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category=SAMPLE_CATEGORY, sampleName=SAMPLE_NAME, uris=[], fileNames=[], nodeNames=[SAMPLE_NODE_NAME],
        thumbnailFileName=os.path.join(os.path.dirname(__file__), "Resources", "Icons", "IExplain.png"),
        customDownloader=lambda source: IExplainLogic().loadPhantomSample())


@parameterNodeWrapper
class IExplainParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    method: Annotated[str, Choice(list(METHODS))] = "iexplain"  # combo boxes synced by hand (readable labels)
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    classifierModel: str = ""
    segmenterModel: str = ""
    igSteps: Annotated[int, WithinRange(0, 1024)] = 0
    igReferences: Annotated[int, WithinRange(0, 6)] = 0
    smoothGradSamples: Annotated[int, WithinRange(0, 128)] = 0
    clusterThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.0
    classifierThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.0
    maxIterations: Annotated[int, WithinRange(0, 50)] = 0
    minClusterVoxels: Annotated[int, WithinRange(0, 1000000)] = 0
    maxCenterDistance: Annotated[float, WithinRange(0.0, 2048.0)] = 0.0
    filterClusters: bool = True
    outputSegmentation: vtkMRMLSegmentationNode
    heatmapVolume: vtkMRMLScalarVolumeNode
    findingsTable: vtkMRMLTableNode
    heatmapOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.4
    showLegend: bool = True


class IExplainWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """A thin face over RunController, FindingsModel and panel_state (IExplainSlicerLib), which tests run."""

    POLL_INTERVAL_MS = 200
    FINDINGS_REFRESH_MS = 500  # edits are collected and measured at most twice a second

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._updatingTable = False
        self.findings = None
        self.segmentWatch = None
        self.currentStudy = None
        self.controller = RunController(onStateChanged=lambda _state: self.updateButtons(),
                                        onProgress=self.showProgress, onLog=self.appendLog)

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IExplain.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IExplainLogic()

        for value, label in panel_state.METHOD_CHOICES:
            self.ui.methodComboBox.addItem(label, value)
        for value, label in panel_state.DEVICE_CHOICES:
            self.ui.deviceComboBox.addItem(label, value)
        self.ui.reviewStatusComboBox.addItems([s.capitalize() for s in REVIEW_STATUSES])
        self.ui.findingsTableWidget.setColumnCount(6)
        self.ui.exportFolderPathLineEdit.currentPath = self.logic.exportFolder()
        self.ui.studyFolderPathLineEdit.currentPath = self.logic.settings.studyFolder()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(editorLifecycle.segmentEditorNode(slicer.mrmlScene))
        for setter in ("setSegmentationNodeSelectorVisible", "setSourceVolumeNodeSelectorVisible"):
            if hasattr(self.ui.segmentEditorWidget, setter):
                getattr(self.ui.segmentEditorWidget, setter)(False)

        self.pollTimer = qt.QTimer()
        self.pollTimer.setInterval(self.POLL_INTERVAL_MS)
        self.pollTimer.timeout.connect(self.onPoll)
        self.findingsTimer = qt.QTimer()
        self.findingsTimer.setInterval(self.FINDINGS_REFRESH_MS)
        self.findingsTimer.timeout.connect(self.onFindingsTimer)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.methodComboBox.connect("currentIndexChanged(int)", self.onMethodChosen)
        self.ui.deviceComboBox.connect("currentIndexChanged(int)", self.onDeviceChosen)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", lambda _i: self.onModelSelected())
        self.ui.importModelButton.connect("clicked(bool)", self.onImportModel)
        self.ui.findingsTableWidget.connect("itemSelectionChanged()", self.onFindingSelected)
        self.ui.findingsTableWidget.connect("itemChanged(QTableWidgetItem*)", self.onFindingItemChanged)
        self.ui.reviewStatusComboBox.connect("activated(int)", self.onReviewStatusChosen)
        self.ui.refreshFindingsButton.connect("clicked(bool)", lambda _b: self.refreshFindings())
        self.ui.outputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda _n: self.showResults())
        self.ui.heatmapSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda _n: self.showResults())
        self.ui.showHeatmapCheckBox.connect("toggled(bool)", lambda _b: self.showHeatmap())
        self.ui.showLegendCheckBox.connect("toggled(bool)", lambda _b: self.showHeatmap())
        self.ui.heatmapOpacitySlider.connect("valueChanged(double)", lambda _v: self.showHeatmap())
        self.ui.openSegmentEditorButton.connect("clicked(bool)", self.onOpenSegmentEditor)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.exportFolderPathLineEdit.connect("currentPathChanged(QString)", lambda _p: self.updateButtons())
        self.ui.finetuneButton.connect("clicked(bool)", self.onFinetune)
        self.ui.openModelsFolderButton.connect("clicked(bool)", self.onOpenModelsFolder)
        self.ui.nextStudyButton.connect("clicked(bool)", self.onNextStudy)

        self.initializeParameterNode()
        self.updateModelList()

    def cleanup(self) -> None:
        """Called when the application closes: stop the worker tree, remove its temporary files."""
        self.pollTimer.stop()
        self.findingsTimer.stop()
        self.controller.shutdown()
        self._watchSegments(None)
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.initializeParameterNode()
        editorLifecycle.enterEditor(self.ui.segmentEditorWidget, slicer.mrmlScene)

    def exit(self) -> None:
        """Called each time the user opens a different module: no Paint effect may keep acting elsewhere."""
        editorLifecycle.exitEditor(self.ui.segmentEditorWidget)
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)

    def onSceneStartClose(self, caller, event) -> None:
        self.controller.sceneClosing()  # a detection on this scene's CT is cancelled and never imported
        editorLifecycle.sceneStartClose(self.ui.segmentEditorWidget)
        self._watchSegments(None)
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        self.controller.sceneClosed()
        editorLifecycle.sceneEndClose(self.ui.segmentEditorWidget, slicer.mrmlScene, self.parent.isEntered)
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            defaultVolume = defaultInputVolume(slicer.mrmlScene)
            if defaultVolume:
                self._parameterNode.inputVolume = defaultVolume

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
            self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self, caller=None, event=None) -> None:
        """Method and device combo boxes show labels, so they are synced here rather than by connectGui."""
        node = self._parameterNode
        if node is None:
            return
        for combo, choices, value in ((self.ui.methodComboBox, panel_state.METHOD_CHOICES, node.method),
                                      (self.ui.deviceComboBox, panel_state.DEVICE_CHOICES, node.device)):
            wasBlocked = combo.blockSignals(True)
            combo.currentIndex = panel_state.indexOfValue(choices, value)
            combo.blockSignals(wasBlocked)
        self.updateButtons()

    def onMethodChosen(self, index: int) -> None:
        if self._parameterNode:
            self._parameterNode.method = panel_state.METHOD_CHOICES[index][0]
        self.updateModelList()

    def onDeviceChosen(self, index: int) -> None:
        if self._parameterNode:
            self._parameterNode.device = panel_state.DEVICE_CHOICES[index][0]

    def updateButtons(self) -> None:
        """Apply/Cancel, Export and Finetune enabled only when they can run (rules in panel_state)."""
        node, busy = self._parameterNode, self.controller.busy
        hasCt = bool(node and node.inputVolume)
        apply = panel_state.applyButton(self.controller.state, self.controller.kind, hasCt,
                                        bool(self.ui.modelComboBox.count))
        exportState = panel_state.exportButton(busy, hasCt, bool(node and node.outputSegmentation))
        finetune = panel_state.finetuneButton(busy, self.ui.exportFolderPathLineEdit.currentPath,
                                              bool(self.ui.finetuneModelComboBox.count))
        for button, state in ((self.ui.applyButton, apply), (self.ui.exportButton, exportState),
                              (self.ui.finetuneButton, finetune)):
            button.enabled = state.enabled
            button.toolTip = _(state.toolTip)
        self.ui.applyButton.text = _(apply.text)
        self.ui.nextStudyButton.enabled = bool(self.ui.studyFolderPathLineEdit.currentPath)
        self.ui.advancedCollapsibleButton.enabled = node is not None and node.method == "iexplain"

    # -- models ------------------------------------------------------------------------------------------------------
    def updateModelList(self) -> None:
        """The models of the chosen method; the one the parameter node remembers stays selected."""
        method = self._parameterNode.method if self._parameterNode else "iexplain"
        kind = "classifier" if method == "iexplain" else "segmenter"
        for combo, entries, setting in (
                (self.ui.modelComboBox, self.logic.registry().models(kind), MODEL_SETTING_OF_KIND[kind]),
                (self.ui.finetuneModelComboBox, self.logic.registry().models("segmenter"), None)):
            wasBlocked = combo.blockSignals(True)
            combo.clear()
            for entry in entries:
                combo.addItem(entry.label, str(entry.weightsPath))
            remembered = getattr(self._parameterNode, setting) if setting and self._parameterNode else ""
            combo.currentIndex = panel_state.modelIndex([str(e.weightsPath) for e in entries], remembered)
            combo.blockSignals(wasBlocked)
        self.onModelSelected()

    def onModelSelected(self) -> None:
        entry = self.selectedModelEntry()
        self.ui.modelInfoLabel.text = entry.summary() if entry else _("No model for this method: import one.")
        if self._parameterNode and entry:
            setattr(self._parameterNode, MODEL_SETTING_OF_KIND[entry.kind], str(entry.weightsPath))
        self.updateButtons()

    def onImportModel(self) -> None:
        path = qt.QFileDialog.getOpenFileName(self.parent, _("Import IExplain model"), "",
                                              _("IExplain model (*.safetensors)"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Model import failed."), waitCursor=True):
            entry = self.logic.registry().importModel(path)
            self.updateModelList()
            slicer.util.infoDisplay(_("Imported {name}: {summary}").format(name=entry.name, summary=entry.summary()))

    def selectedModelEntry(self, comboBox=None):
        path = (self.ui.modelComboBox if comboBox is None else comboBox).currentData
        return self.logic.registry().find(path) if path else None

    def confirmLicense(self, entry) -> bool:
        """Non-permissive weights need an explicit yes once (ExtensionsIndex tier rule); remembered in settings."""
        if self.logic.settings.licenseAccepted(entry):
            return True
        if not slicer.util.confirmYesNoDisplay(
                _("The model {name} is licensed under '{license}', which is not a permissive licence. Use it under "
                  "those terms?").format(name=entry.name, license=entry.license or _("unknown"))):
            return False
        self.logic.settings.acceptLicense(entry)
        return True

    def ensureRequirements(self) -> bool:
        """Install what is missing; a package updated after Slicer loaded it needs a restart, offered here."""
        try:
            self.logic.setupPythonRequirements()
            return True
        except DependencyError as error:
            if not error.restartRequired:
                raise
            if slicer.util.confirmOkCancelDisplay(_("{message}\n\nRestart Slicer now?").format(message=error)):
                slicer.util.restart()
            return False

    # -- running -----------------------------------------------------------------------------------------------------
    def onApplyButton(self) -> None:
        """Apply starts detection; while detection or finetuning runs the same button cancels it."""
        if self.controller.busy:
            self.controller.cancel()
            self.ui.statusLabel.text = _("Cancelling...")
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start detection."), waitCursor=True):
            if not self.confirmLicense(self.selectedModelEntry()) or not self.ensureRequirements():
                return
            node = self._parameterNode
            settings = detectSettingsFromParameters(node)
            self._startRun(RunKind.DETECTION, lambda: self.logic.startDetection(node.inputVolume, settings),
                           self.logic.finishDetection, settings.method)

    def _startRun(self, kind, startRun, finish, method="iexplain") -> None:
        self.ui.logTextEdit.clear()
        self.ui.progressBar.setRange(0, 100)
        self.ui.progressBar.value = 0
        self.controller.start(kind, startRun, finish, method)
        self.ui.statusLabel.text = _("Starting {title}...").format(title=self.controller.title)
        self.pollTimer.start()

    def appendLog(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def showProgress(self, state, overall) -> None:
        self.ui.progressBar.value = overall.percent()
        self.ui.statusLabel.text = f"{state.text()} | {_('overall')} {overall.text()}"

    def onPoll(self) -> None:
        outcome = self.controller.poll()
        if outcome is None:
            return
        self.pollTimer.stop()
        self.ui.statusLabel.text = panel_state.statusText(outcome)
        if outcome.state is RunState.FAILED:
            self.ui.logCollapsibleButton.collapsed = False
            slicer.util.errorDisplay(_("{kind} failed: {message}").format(kind=outcome.kind.value.capitalize(),
                                                                          message=outcome.message),
                                     detailedText=outcome.log[-20000:])
        elif outcome.state is RunState.FINISHED and outcome.kind is RunKind.DETECTION:
            results = outcome.value
            self._parameterNode.outputSegmentation = results.segmentationNode
            self._parameterNode.heatmapVolume = results.heatmapNode
            self._parameterNode.findingsTable = results.tableNode
            self.showResults()
        elif outcome.state is RunState.FINISHED:
            self.updateModelList()
        self.updateButtons()

    # -- results -----------------------------------------------------------------------------------------------------
    def showResults(self) -> None:
        node = self._parameterNode
        segmentationNode = node.outputSegmentation if node else None
        ctNode = node.inputVolume if node else None
        editorLifecycle.setEditorInputs(self.ui.segmentEditorWidget, segmentationNode, ctNode)
        self.findings = FindingsModel(segmentationNode, ctNode, node.heatmapVolume, node.findingsTable) \
            if segmentationNode and ctNode else None
        self._watchSegments(segmentationNode if self.findings else None)
        method = "segmenter" if node and node.heatmapVolume and "probability" in node.heatmapVolume.GetName() \
            else "iexplain"
        self.ui.findingsTableWidget.setHorizontalHeaderLabels(
            [_("Show"), _("Finding"), _("Volume (mm³)"), _(panel_state.SCORE_HEADERS[method]), _("Slices"),
             _("Review")])
        self.showHeatmap()
        self.refreshFindings()
        self.updateButtons()

    def _watchSegments(self, segmentationNode) -> None:
        if self.segmentWatch is not None:
            self.segmentWatch.stop()
            self.segmentWatch = None
            self.findingsTimer.stop()
        if segmentationNode is not None:
            self.segmentWatch = SegmentChangeWatch(segmentationNode)
            self.findingsTimer.start()

    def onFindingsTimer(self) -> None:
        changed = self.segmentWatch.take() if self.segmentWatch else None
        if changed:
            self.refreshFindings(changed)

    def showHeatmap(self) -> None:
        node = self._parameterNode
        if not node or not node.inputVolume:
            return
        heatmap, visible = node.heatmapVolume, self.ui.showHeatmapCheckBox.checked
        showHeatmapOverlay(slicer.mrmlScene, node.inputVolume, heatmap, visible, node.heatmapOpacity)
        if heatmap is not None:
            heatmapLegend(slicer.mrmlScene, heatmap, visible and node.showLegend)

    def refreshFindings(self, changedIds=None) -> None:
        """Re-measure what changed (everything when ``changedIds`` is None) and rebuild the panel's table."""
        table = self.ui.findingsTableWidget
        self._updatingTable = True
        table.setRowCount(0)
        if self.findings is not None:
            rows = self.findings.refresh(changedIds)
            displayNode = self.findings.segmentationNode.GetDisplayNode()
            table.setRowCount(len(rows))
            for row, finding in enumerate(rows):
                show = qt.QTableWidgetItem()
                show.setFlags(qt.Qt.ItemIsUserCheckable | qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable)
                visible = displayNode is None or displayNode.GetSegmentVisibility(finding.segmentId)
                show.setCheckState(qt.Qt.Checked if visible else qt.Qt.Unchecked)
                show.setData(qt.Qt.UserRole, finding.segmentId)
                table.setItem(row, 0, show)
                for column, text in enumerate(panelRowTexts(finding), start=1):
                    table.setItem(row, column, qt.QTableWidgetItem(text))
        table.resizeColumnsToContents()
        self._updatingTable = False

    def onFindingItemChanged(self, item) -> None:
        if self._updatingTable or item.column() != 0:
            return
        setIterationVisible(self.findings.segmentationNode, item.data(qt.Qt.UserRole),
                            item.checkState() == qt.Qt.Checked)

    def selectedFinding(self):
        rows = {index.row() for index in self.ui.findingsTableWidget.selectedIndexes()}
        return self.findings.findings[rows.pop()] if rows and self.findings else None

    def onFindingSelected(self) -> None:
        finding = self.selectedFinding()
        if finding is None:
            return
        self.ui.reviewStatusComboBox.currentIndex = REVIEW_STATUSES.index(finding.review)
        self.ui.segmentEditorWidget.setCurrentSegmentID(finding.segmentId)
        if finding.centerRas is not None:
            slicer.modules.markups.logic().JumpSlicesToLocation(*finding.centerRas, True)

    def onReviewStatusChosen(self, index: int) -> None:
        """One segment's status and its row change; nothing is measured again."""
        finding = self.selectedFinding()
        if finding is None:
            return
        finding = self.findings.setReview(finding.segmentId, REVIEW_STATUSES[index])
        self._updatingTable = True
        self.ui.findingsTableWidget.item(self.findings.rowOf(finding.segmentId), 5).setText(panelRowTexts(finding)[4])
        self._updatingTable = False

    def onOpenSegmentEditor(self) -> None:
        node = self._parameterNode
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editorLifecycle.setEditorInputs(editor, node.outputSegmentation, node.inputVolume)

    # -- export, finetune, next study ------------------------------------------------------------------------------
    def onExport(self) -> None:
        node = self._parameterNode
        if not panel_state.exportButton(self.controller.busy, bool(node and node.inputVolume),
                                        bool(node and node.outputSegmentation)).enabled:
            return
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            unreviewed = export.unreviewedSegmentNames(node.outputSegmentation)
            if unreviewed and not slicer.util.confirmOkCancelDisplay(
                    _("{count} finding(s) are not reviewed yet: {names}. Export anyway?").format(
                        count=len(unreviewed), names=", ".join(unreviewed))):
                return
            folder = self.ui.exportFolderPathLineEdit.currentPath
            result = self.logic.exportForFinetuning(node.outputSegmentation, node.inputVolume, folder,
                                                    self.ui.caseIdLineEdit.text.strip() or None)
            self.ui.exportFolderPathLineEdit.addCurrentPathToHistory()
            self.updateButtons()
            slicer.util.infoDisplay(_("Exported case {case} (version {version}) to {folder}.").format(
                case=result.caseId, version=result.version, folder=folder), detailedText="\n".join(result.notes))

    def onFinetune(self) -> None:
        if self.controller.busy:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start finetuning."), waitCursor=True):
            entry = self.selectedModelEntry(self.ui.finetuneModelComboBox)
            if entry is None:
                raise ValueError(_("Choose a segmenter model to finetune."))
            if not self.ensureRequirements():
                return
            folder, device = self.ui.exportFolderPathLineEdit.currentPath, self._parameterNode.device
            self._startRun(RunKind.FINETUNE, lambda: self.logic.startFinetune(entry, folder, device),
                           lambda run: run.finish())

    def onNextStudy(self) -> None:
        """Close this study and open the next one of the folder that has not been exported yet."""
        folder = self.ui.studyFolderPathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("Could not open the next study."), waitCursor=True):
            worklist = StudyWorklist(folder, self.ui.exportFolderPathLineEdit.currentPath)
            study = worklist.next(self.currentStudy)
            if study is None:
                slicer.util.infoDisplay(_("No study left to review in {folder}.").format(folder=folder))
                return
            if self.controller.busy and not slicer.util.confirmOkCancelDisplay(
                    _("Detection is still running; stop it and open {name}?").format(name=study.name)):
                return
            self.logic.settings.rememberStudyFolder(folder)
            slicer.mrmlScene.Clear(0)
            self.currentStudy = str(study.path)
            self._parameterNode.inputVolume = slicer.util.loadVolume(str(study.path))
            self.ui.caseIdLineEdit.text = ""
            self.ui.studyInfoLabel.text = _("{name}: {progress}").format(name=study.name,
                                                                         progress=worklist.progressText())

    def onOpenModelsFolder(self) -> None:
        folder = self.logic.registry().userFolder
        folder.mkdir(parents=True, exist_ok=True)
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))

    def onReload(self) -> None:
        """Reload the Lib modules too, so edits to them take effect without restarting Slicer."""
        import importlib

        for name in LIB_MODULES:
            module = sys.modules.get(f"IExplainSlicerLib.{name}")
            if module is not None:
                importlib.reload(module)
        ScriptedLoadableModuleWidget.onReload(self)


class IExplainLogic(ScriptedLoadableModuleLogic):
    """Detection, results, export and finetuning; can be used without the GUI widget (see ``process``)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._registry = None
        self.processFactory = None  # tests may inject a process runner (IExplainSlicerLib.worker.ProcessFactory)
        self.settings = ModuleSettings(qt.QSettings)

    def getParameterNode(self):
        return IExplainParameterNode(super().getParameterNode())

    def moduleDir(self) -> Path:
        return Path(__file__).resolve().parent

    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = ModelRegistry(bundledModelFolders(self.moduleDir()), self.settings.modelsFolder())
        return self._registry

    def exportFolder(self) -> str:
        return self.settings.exportFolder()

    def launcher(self) -> WorkerLauncher:
        return slicerWorkerLauncher(shutil.which("PythonSlicer"), slicer.util.startupEnvironment, self.processFactory)

    def setupPythonRequirements(self) -> None:
        ensureRequirements(self.moduleDir() / "Resources" / "requirements.txt", testing=slicer.app.testingEnabled())

    def resultsFolder(self) -> Path:
        return Path(slicer.app.temporaryPath) / "IExplain" / "results"

    def startDetection(self, ctNode, settings) -> DetectionRun:
        """Start ``iexplain detect`` in the background; poll ``run.job``, then call :meth:`finishDetection`."""
        if ctNode is None:
            raise ValueError(_("Choose the CT volume first."))
        return startDetectionRun(ctNode, settings, self.launcher(), self.resultsFolder())

    def finishDetection(self, run: DetectionRun) -> DetectionResults:
        return run.finish(slicer.mrmlScene)

    def process(self, ctNode, settings, timeout: float = 3600.0) -> DetectionResults:
        """Blocking detection (scripts, self-test): returns the DetectionResults. Can be used without GUI widget."""
        return DetectionRun(ctNode, settings, self.launcher(), self.resultsFolder()).runToCompletion(
            slicer.mrmlScene, timeout)

    def loadPhantomSample(self) -> list:
        """The SampleData entry: a phantom CTPA (generated once into Slicer's cache) and its truth segmentation."""
        folder = Path(slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()) / "IExplain"
        sample = writePhantomSample(folder)
        ctNode = slicer.util.loadVolume(str(sample.ct), {"name": SAMPLE_NODE_NAME})
        slicer.util.loadSegmentation(str(sample.truth), {"name": f"{SAMPLE_NODE_NAME} truth"})
        return [ctNode]

    def reviewSummary(self, segmentationNode) -> list:
        return [(s["name"], s["status"]) for s in export.segmentReviewSummary(segmentationNode)]

    def exportForFinetuning(self, segmentationNode, ctNode, folder, caseId=None) -> export.ExportResult:
        result = export.exportForFinetuning(segmentationNode, ctNode, folder, caseId,
                                            slicerVersion=slicer.app.applicationVersion)
        self.settings.rememberExportFolder(folder)
        return result

    def startFinetune(self, baseModel, datasetFolder, device="auto") -> FinetuneRun:
        return startFinetuneRun(baseModel, datasetFolder, self.registry(), self.launcher(), device)


class IExplainTest(ScriptedLoadableModuleTest):
    """Runs detection on a small synthetic CTPA phantom with the bundled demo model and checks the segments."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        """The short test always (seconds: no install, no worker); the worker run only with
        IEXPLAIN_FULL_SELF_TEST=1 (installs the dependencies, then a fast CPU detection)."""
        self.setUp()
        self.test_IExplainResultsAndExport()
        if os.environ.get("IEXPLAIN_FULL_SELF_TEST") == "1":
            self.setUp()
            self.test_IExplainPhantomDetection()

    def test_IExplainResultsAndExport(self):
        import tempfile

        logic = IExplainLogic()
        folder = Path(tempfile.mkdtemp(prefix="IExplainTest-"))
        checkResultsAndExport(self, slicer.mrmlScene, logic.exportForFinetuning, folder, announce=self.delayDisplay)
        self.delayDisplay("Test passed")

    def test_IExplainPhantomDetection(self):
        import tempfile

        logic = IExplainLogic()
        classifiers = logic.registry().models("classifier")
        self.assertTrue(classifiers, "no bundled classifier model found")

        def detectInWorker(ctNode, settings):
            logic.setupPythonRequirements()
            return logic.process(ctNode, settings, timeout=600)

        folder = Path(tempfile.mkdtemp(prefix="IExplainTest-"))
        checkPhantomDetectionAndExport(self, slicer.mrmlScene, classifiers[0].weightsPath, detectInWorker,
                                       logic.exportForFinetuning, folder, announce=self.delayDisplay)
        self.delayDisplay("Test passed")
