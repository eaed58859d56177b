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

from IExplainSlicerLib import export  # noqa: E402
from IExplainSlicerLib.commands import (DEVICES, METHODS, MODEL_SETTING_OF_KIND,  # noqa: E402
                                        detectSettingsFromParameters)
from IExplainSlicerLib.dependencies import ensureRequirements  # noqa: E402
from IExplainSlicerLib.detection import DetectionResults, DetectionRun, startDetectionRun  # noqa: E402
from IExplainSlicerLib.findings_table import Finding, measureFindings, panelRowTexts  # noqa: E402
from IExplainSlicerLib.finetuning import FinetuneRun, startFinetuneRun  # noqa: E402
from IExplainSlicerLib.heatmap import defaultInputVolume  # noqa: E402
from IExplainSlicerLib.job import JobStatus  # noqa: E402
from IExplainSlicerLib.model_registry import ModelRegistry, bundledModelFolders  # noqa: E402
from IExplainSlicerLib.phantom_check import checkPhantomDetectionAndExport  # noqa: E402
from IExplainSlicerLib.segments import REVIEW_STATUSES, setIterationVisible, setReviewStatus  # noqa: E402
from IExplainSlicerLib.settings import ModuleSettings  # noqa: E402
from IExplainSlicerLib.worker import WorkerLauncher, slicerWorkerLauncher  # noqa: E402

# Reloaded in this order (a module after those it imports) so that edits take effect without restarting Slicer.
LIB_MODULES = ("process", "progress_tracker", "job", "commands", "worker", "settings", "model_registry", "volumes",
               "segments", "heatmap", "findings_table", "dataset_folder", "export", "detection", "finetuning",
               "dependencies", "phantom_check")


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


@parameterNodeWrapper
class IExplainParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    method: Annotated[str, Choice(list(METHODS))] = "iexplain"
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


class IExplainWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    POLL_INTERVAL_MS = 200

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._detection = None
        self._finetune = None
        self._updatingTable = False
        self._findings = []

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IExplain.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IExplainLogic()

        self.ui.reviewStatusComboBox.addItems([s.capitalize() for s in REVIEW_STATUSES])
        self.ui.findingsTableWidget.setColumnCount(6)
        self.ui.findingsTableWidget.setHorizontalHeaderLabels(
            [_("Show"), _("Finding"), _("Volume (mm³)"), _("Peak"), _("Slices"), _("Review")])
        self.ui.exportFolderPathLineEdit.currentPath = self.logic.exportFolder()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        for setter in ("setSegmentationNodeSelectorVisible", "setSourceVolumeNodeSelectorVisible"):
            if hasattr(self.ui.segmentEditorWidget, setter):
                getattr(self.ui.segmentEditorWidget, setter)(False)

        self.pollTimer = qt.QTimer()
        self.pollTimer.setInterval(self.POLL_INTERVAL_MS)
        self.pollTimer.timeout.connect(self.onPoll)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.methodComboBox.connect("currentIndexChanged(int)", lambda _i: self.updateModelList())
        self.ui.modelComboBox.connect("currentIndexChanged(int)", lambda _i: self.onModelSelected())
        self.ui.importModelButton.connect("clicked(bool)", self.onImportModel)
        self.ui.findingsTableWidget.connect("itemSelectionChanged()", self.onFindingSelected)
        self.ui.findingsTableWidget.connect("itemChanged(QTableWidgetItem*)", self.onFindingItemChanged)
        self.ui.reviewStatusComboBox.connect("activated(int)", self.onReviewStatusChosen)
        self.ui.refreshFindingsButton.connect("clicked(bool)", self.refreshFindings)
        self.ui.outputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda _n: self.showResults())
        self.ui.showHeatmapCheckBox.connect("toggled(bool)", lambda _b: self.showHeatmap())
        self.ui.openSegmentEditorButton.connect("clicked(bool)", self.onOpenSegmentEditor)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.finetuneButton.connect("clicked(bool)", self.onFinetune)
        self.ui.openModelsFolderButton.connect("clicked(bool)", self.onOpenModelsFolder)

        self.initializeParameterNode()
        self.updateModelList()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.pollTimer.stop()
        for run in (self._detection, self._finetune):
            if run is not None and run.job is not None:
                run.job.cancel()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        # one job at a time: while detection or finetuning runs, Apply is that job's Cancel button (a parameter
        # change must not re-enable Apply, or a second job would leave the first one unwatched)
        running = self._detection or self._finetune
        hasInputs = bool(self._parameterNode and self._parameterNode.inputVolume and self.ui.modelComboBox.count)
        self.ui.applyButton.enabled = bool(running) or hasInputs
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        if running:
            self.ui.applyButton.toolTip = _("Stop the running {title}").format(title=running.job.title)
        else:
            self.ui.applyButton.toolTip = _("Run detection")
        isIExplain = self._parameterNode is not None and self._parameterNode.method == "iexplain"
        self.ui.advancedCollapsibleButton.enabled = isIExplain

    # -- models ------------------------------------------------------------------------------------------------------
    def updateModelList(self) -> None:
        kind = "classifier" if self.ui.methodComboBox.currentText == "iexplain" else "segmenter"
        self.ui.modelComboBox.blockSignals(True)
        self.ui.modelComboBox.clear()
        for entry in self.logic.registry().models(kind):
            self.ui.modelComboBox.addItem(entry.label, str(entry.weightsPath))
        self.ui.modelComboBox.blockSignals(False)
        self.ui.finetuneModelComboBox.clear()
        for entry in self.logic.registry().models("segmenter"):
            self.ui.finetuneModelComboBox.addItem(entry.label, str(entry.weightsPath))
        self.onModelSelected()

    def onModelSelected(self) -> None:
        entry = self.selectedModelEntry()
        self.ui.modelInfoLabel.text = entry.summary() if entry else _("No model for this method: import one.")
        if self._parameterNode and entry:
            setattr(self._parameterNode, MODEL_SETTING_OF_KIND[entry.kind], str(entry.weightsPath))
        self._checkCanApply()

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

    # -- running -----------------------------------------------------------------------------------------------------
    def onApplyButton(self) -> None:
        """Apply starts detection; while detection or finetuning runs the same button cancels it."""
        running = self._detection or self._finetune
        if running is not None:
            running.job.cancel()
            self.ui.statusLabel.text = _("Cancelling...")
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start detection."), waitCursor=True):
            if not self.confirmLicense(self.selectedModelEntry()):
                return
            self.logic.setupPythonRequirements()
            self.ui.logTextEdit.clear()
            self._detection = self.logic.startDetection(self._parameterNode.inputVolume,
                                                        detectSettingsFromParameters(self._parameterNode))
            self._watch(self._detection.job)

    def _watch(self, job) -> None:
        job.onProgress = self.showProgress
        job.onLog = self.ui.logTextEdit.appendPlainText
        self.ui.progressBar.setRange(0, 100)
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = _("Starting {title}...").format(title=job.title)
        self._checkCanApply()
        self.ui.finetuneButton.enabled = False
        self.pollTimer.start()

    def showProgress(self, state) -> None:
        percent = state.percent()
        if percent is None:
            self.ui.progressBar.setRange(0, 0)  # busy indicator: the stage gives no fraction
        else:
            self.ui.progressBar.setRange(0, 100)
            self.ui.progressBar.value = percent
        self.ui.statusLabel.text = state.text()

    def onPoll(self) -> None:
        run = self._detection or self._finetune
        if run is None or run.job.poll() is JobStatus.RUNNING:
            return
        self.pollTimer.stop()
        result = run.job.result
        self._detection, self._finetune = None, None
        self.ui.progressBar.setRange(0, 100)
        self.ui.finetuneButton.enabled = True
        self._checkCanApply()
        try:
            if result.succeeded:
                self.onRunSucceeded(run)
            elif result.status is JobStatus.CANCELLED:
                self.ui.statusLabel.text = _("Cancelled.")
            else:
                self.ui.statusLabel.text = _("Failed: {message}").format(message=result.errorMessage)
                self.ui.logCollapsibleButton.collapsed = False
                slicer.util.errorDisplay(_("{title} failed: {message}").format(title=run.job.title,
                                                                                message=result.errorMessage),
                                         detailedText=result.log[-20000:])
        finally:
            if hasattr(run, "cleanup"):
                run.cleanup()

    def onRunSucceeded(self, run) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to load the results."), waitCursor=True):
            if hasattr(run, "importResults"):
                results = self.logic.finishDetection(run)
                self._parameterNode.outputSegmentation = results.segmentationNode
                self._parameterNode.heatmapVolume = results.heatmapNode
                self._parameterNode.findingsTable = results.tableNode
                self.ui.statusLabel.text = _("Done: {count} iteration segment(s).").format(count=len(results.findings))
                self.ui.progressBar.value = 100
                self.showResults()
            else:
                entry = run.finish()
                self.updateModelList()
                self.ui.statusLabel.text = _("Finetuned model {name} added to the model list.").format(name=entry.name)

    # -- results -----------------------------------------------------------------------------------------------------
    def showResults(self) -> None:
        segmentationNode = self._parameterNode.outputSegmentation if self._parameterNode else None
        ctNode = self._parameterNode.inputVolume if self._parameterNode else None
        self.ui.segmentEditorWidget.setSegmentationNode(segmentationNode)
        self._setEditorVolume(self.ui.segmentEditorWidget, ctNode)
        self.showHeatmap()
        self.refreshFindings()

    def showHeatmap(self) -> None:
        if not self._parameterNode or not self._parameterNode.inputVolume:
            return
        heatmap = self._parameterNode.heatmapVolume if self.ui.showHeatmapCheckBox.checked else None
        slicer.util.setSliceViewerLayers(background=self._parameterNode.inputVolume, foreground=heatmap,
                                         foregroundOpacity=0.4 if heatmap else 0.0)

    def refreshFindings(self) -> None:
        node = self._parameterNode
        table = self.ui.findingsTableWidget
        self._updatingTable = True
        table.setRowCount(0)
        if node and node.outputSegmentation and node.inputVolume:
            findings = self.logic.refreshFindings(node.outputSegmentation, node.inputVolume, node.heatmapVolume,
                                                  node.findingsTable)
            displayNode = node.outputSegmentation.GetDisplayNode()
            table.setRowCount(len(findings))
            for row, finding in enumerate(findings):
                show = qt.QTableWidgetItem()
                show.setFlags(qt.Qt.ItemIsUserCheckable | qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable)
                visible = displayNode is None or displayNode.GetSegmentVisibility(finding.segmentId)
                show.setCheckState(qt.Qt.Checked if visible else qt.Qt.Unchecked)
                show.setData(qt.Qt.UserRole, finding.segmentId)
                table.setItem(row, 0, show)
                for column, text in enumerate(panelRowTexts(finding), start=1):
                    table.setItem(row, column, qt.QTableWidgetItem(text))
            self._findings = findings
        table.resizeColumnsToContents()
        self._updatingTable = False

    def onFindingItemChanged(self, item) -> None:
        if self._updatingTable or item.column() != 0:
            return
        setIterationVisible(self._parameterNode.outputSegmentation, item.data(qt.Qt.UserRole),
                            item.checkState() == qt.Qt.Checked)

    def selectedFinding(self):
        rows = {index.row() for index in self.ui.findingsTableWidget.selectedIndexes()}
        return self._findings[rows.pop()] if rows and getattr(self, "_findings", None) else None

    def onFindingSelected(self) -> None:
        finding = self.selectedFinding()
        if finding is None:
            return
        self.ui.reviewStatusComboBox.currentIndex = REVIEW_STATUSES.index(finding.review)
        self.ui.segmentEditorWidget.setCurrentSegmentID(finding.segmentId)
        if finding.centerRas is not None:
            slicer.modules.markups.logic().JumpSlicesToLocation(*finding.centerRas, True)

    def onReviewStatusChosen(self, index: int) -> None:
        finding = self.selectedFinding()
        if finding is None:
            return
        segment = self._parameterNode.outputSegmentation.GetSegmentation().GetSegment(finding.segmentId)
        setReviewStatus(segment, REVIEW_STATUSES[index])
        row = self._findings.index(finding)
        self.refreshFindings()
        self.ui.findingsTableWidget.selectRow(row)

    def onOpenSegmentEditor(self) -> None:
        node = self._parameterNode
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editor.setSegmentationNode(node.outputSegmentation)
        self._setEditorVolume(editor, node.inputVolume)

    @staticmethod
    def _setEditorVolume(editor, volumeNode) -> None:
        if hasattr(editor, "setSourceVolumeNode"):
            editor.setSourceVolumeNode(volumeNode)
        else:  # Slicer before 5.4 named it "master" (MONAILabel#852)
            editor.setMasterVolumeNode(volumeNode)

    # -- export and finetune ----------------------------------------------------------------------------------------
    def onExport(self) -> None:
        node = self._parameterNode
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
            slicer.util.infoDisplay(_("Exported case {case} (version {version}) to {folder}.").format(
                case=result.caseId, version=result.version, folder=folder), detailedText="\n".join(result.notes))

    def onFinetune(self) -> None:
        if self._detection is not None or self._finetune is not None:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start finetuning."), waitCursor=True):
            entry = self.selectedModelEntry(self.ui.finetuneModelComboBox)
            if entry is None:
                raise ValueError(_("Choose a segmenter model to finetune."))
            self.logic.setupPythonRequirements()
            self.ui.logTextEdit.clear()
            self._finetune = self.logic.startFinetune(entry, self.ui.exportFolderPathLineEdit.currentPath,
                                                      self._parameterNode.device)
            self._watch(self._finetune.job)

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

    def segmentEditorNode(self):
        node = slicer.mrmlScene.GetSingletonNode("SegmentEditor", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag("SegmentEditor")
            node = slicer.mrmlScene.AddNode(node)
        return node

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

    def refreshFindings(self, segmentationNode, ctNode, heatmapNode=None, tableNode=None) -> list[Finding]:
        return measureFindings(segmentationNode, ctNode, heatmapNode, tableNode)

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
        self.setUp()
        self.test_IExplainPhantomDetection()

    def test_IExplainPhantomDetection(self):
        import tempfile

        logic = IExplainLogic()
        classifiers = logic.registry().models("classifier")
        self.assertTrue(classifiers, "no bundled classifier model found")

        def detectInWorker(ctNode, settings):
            logic.setupPythonRequirements()
            return logic.process(ctNode, settings, timeout=900)

        folder = Path(tempfile.mkdtemp(prefix="IExplainTest-"))
        checkPhantomDetectionAndExport(self, slicer.mrmlScene, classifiers[0].weightsPath, detectInWorker,
                                       logic.exportForFinetuning, folder, announce=self.delayDisplay)
        self.delayDisplay("Test passed")
