import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from IExplainSlicerLib.commands import DEVICES, METHODS  # noqa: E402
from IExplainSlicerLib.module_logic import ModuleLogic  # noqa: E402
from IExplainSlicerLib.panel_presenter import UNEXPORTED_ATTRIBUTE, PanelPresenter, PanelView  # noqa: E402
from IExplainSlicerLib.phantom_check import (checkCandidatesDetection, checkPhantomDetectionAndExport,  # noqa: E402
                                             checkResultsAndExport)
from IExplainSlicerLib.sample_data import SAMPLE_CATEGORY, SAMPLE_NAME, SAMPLE_NODE_NAME, writePhantomSample  # noqa
from IExplainSlicerLib.segments import REVIEW_STATUSES  # noqa: E402
from IExplainSlicerLib.settings import ModuleSettings  # noqa: E402

# Reloaded in this order (a module after those it imports) so that edits take effect without restarting Slicer.
LIB_MODULES = ("process", "progress_tracker", "overall_progress", "job", "commands", "worker", "settings",
               "model_registry", "volumes", "segments", "score_threshold", "heatmap", "findings_table",
               "dataset_folder", "export", "provenance", "detection", "finetuning", "run_controller", "panel_state",
               "segment_editor", "dependencies", "sample_data", "study_list", "phantom_check", "module_logic",
               "panel_presenter")


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
            "pseudo-labels can be finetuned on your corrections. The candidates method finds filling defects "
            "from the CT and scores each with a false-positive reducer; a slider hides the low scores live. "
            "Research software, not for diagnosis. "
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
    reducerModel: str = ""
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

    if TYPE_CHECKING:  # the constructor parameterNodeWrapper adds (type checkers do not apply class decorators)
        def __init__(self, parameterNode=None) -> None: ...


class IExplainWidget(ScriptedLoadableModuleWidget, VTKObservationMixin, PanelView):
    """The panel's widgets: Qt signals go to the PanelPresenter (IExplainSlicerLib), which tests run on real MRML;
    the PanelView methods below only show what it says and ask what it asks."""

    POLL_INTERVAL_MS = 200
    FINDINGS_REFRESH_MS = 500  # edits are collected and measured at most twice a second

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        # made in setup(), which Slicer calls right after this
        self.logic: IExplainLogic
        self.presenter: PanelPresenter
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._updatingTable = False

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IExplain.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IExplainLogic()
        self.presenter = PanelPresenter(self, self.logic, slicer.mrmlScene)

        for value, label in panel_state.METHOD_CHOICES:
            self.ui.methodComboBox.addItem(label, value)
        for value, label in panel_state.DEVICE_CHOICES:
            self.ui.deviceComboBox.addItem(label, value)
        self.ui.reviewStatusComboBox.addItems([s.capitalize() for s in REVIEW_STATUSES])
        self.setScoreThreshold(False, 0.0)
        self.ui.exportFolderPathLineEdit.currentPath = self.logic.exportFolder()
        self.ui.studyFolderPathLineEdit.currentPath = self.logic.settings.studyFolder()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(editorLifecycle.segmentEditorNode(slicer.mrmlScene))
        for setter in ("setSegmentationNodeSelectorVisible", "setSourceVolumeNodeSelectorVisible"):
            if hasattr(self.ui.segmentEditorWidget, setter):
                getattr(self.ui.segmentEditorWidget, setter)(False)

        p = self.presenter
        self.pollTimer = qt.QTimer()
        self.pollTimer.setInterval(self.POLL_INTERVAL_MS)
        self.pollTimer.timeout.connect(p.onPoll)
        self.findingsTimer = qt.QTimer()
        self.findingsTimer.setInterval(self.FINDINGS_REFRESH_MS)
        self.findingsTimer.timeout.connect(p.onFindingsTimer)
        # Every handler gets the new value from the signal itself, so the order against connectGui's own slots
        # (which copy values into the parameter node) no longer matters (issue 26, fault 11).
        ui = self.ui
        ui.applyButton.connect("clicked(bool)", lambda _b: p.onApply())
        ui.methodComboBox.connect("currentIndexChanged(int)", p.onMethodChosen)
        ui.deviceComboBox.connect("currentIndexChanged(int)", p.onDeviceChosen)
        ui.modelComboBox.connect("currentIndexChanged(int)", lambda _i: p.onModelSelected())
        ui.importModelButton.connect("clicked(bool)", lambda _b: p.onImportModel())
        ui.findingsTableWidget.connect("itemSelectionChanged()", lambda: p.onFindingSelected(self._selectedRow()))
        ui.findingsTableWidget.connect("itemChanged(QTableWidgetItem*)", self._onFindingItemChanged)
        ui.reviewStatusComboBox.connect("activated(int)", p.onReviewStatusChosen)
        ui.refreshFindingsButton.connect("clicked(bool)", lambda _b: p.onRefreshFindings())
        ui.scoreThresholdSlider.connect("valueChanged(double)", p.onScoreThresholdChanged)
        ui.outputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", p.onSegmentationChosen)
        ui.heatmapSelector.connect("currentNodeChanged(vtkMRMLNode*)", p.onHeatmapChosen)
        ui.showHeatmapCheckBox.connect("toggled(bool)", p.onHeatmapToggled)
        ui.showLegendCheckBox.connect("toggled(bool)", p.onLegendToggled)
        ui.heatmapOpacitySlider.connect("valueChanged(double)", p.onOpacityChanged)
        ui.dropHeatmapButton.connect("clicked(bool)", lambda _b: p.onDropHeatmap())
        ui.openSegmentEditorButton.connect("clicked(bool)", lambda _b: p.onOpenSegmentEditor())
        ui.exportButton.connect("clicked(bool)", lambda _b: p.onExport())
        ui.exportFolderPathLineEdit.connect("currentPathChanged(QString)", p.onExportFolderChanged)
        ui.studyFolderPathLineEdit.connect("currentPathChanged(QString)", p.onStudyFolderChanged)
        ui.finetuneButton.connect("clicked(bool)", lambda _b: p.onFinetune())
        ui.openModelsFolderButton.connect("clicked(bool)", lambda _b: p.onOpenModelsFolder())
        ui.nextStudyButton.connect("clicked(bool)", lambda _b: p.onNextStudy())
        p.onSetup()

    def cleanup(self) -> None:
        """Called when the application closes: stop the worker tree, remove its temporary files."""
        self.findingsTimer.stop()
        self.presenter.onCleanup()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.presenter.onEnter()

    def exit(self) -> None:
        """Called each time the user opens a different module: no Paint effect may keep acting elsewhere."""
        self.presenter.onExit()

    # -- PanelView: parameter node, status, log ------------------------------------------------------------------
    def bindParameterNode(self, node) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = node
        self._parameterNodeGuiTag = None
        if node:
            self._parameterNodeGuiTag = node.connectGui(self.ui)
            self.addObserver(node, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self.presenter.onParameterNodeModified()

    def setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = _(text)

    def setBanner(self, text: str) -> None:
        self.ui.warningBannerLabel.text = text
        self.ui.warningBannerLabel.visible = bool(text)

    def appendLog(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def clearLog(self) -> None:
        self.ui.logTextEdit.clear()

    def expandLog(self) -> None:
        self.ui.logCollapsibleButton.collapsed = False

    def setProgress(self, percent) -> None:
        if percent is None:
            self.ui.progressBar.setRange(0, 0)  # a busy bar: the stage gives no fraction
            return
        self.ui.progressBar.setRange(0, 100)
        self.ui.progressBar.value = percent

    # -- PanelView: buttons and choices --------------------------------------------------------------------------
    def setButtons(self, apply, export, finetune, nextStudy, advanced) -> None:
        for button, state in ((self.ui.applyButton, apply), (self.ui.exportButton, export),
                              (self.ui.finetuneButton, finetune)):
            button.enabled = state.enabled
            button.toolTip = _(state.toolTip)
        self.ui.applyButton.text = _(apply.text)
        self.ui.nextStudyButton.enabled = nextStudy
        self.ui.advancedCollapsibleButton.enabled = advanced

    def setChoiceIndexes(self, methodIndex: int, deviceIndex: int) -> None:
        for combo, index in ((self.ui.methodComboBox, methodIndex), (self.ui.deviceComboBox, deviceIndex)):
            wasBlocked = combo.blockSignals(True)
            combo.currentIndex = index
            combo.blockSignals(wasBlocked)

    def _fillCombo(self, combo, choices, index) -> None:
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        for label, path in choices:
            combo.addItem(label, path)
        combo.currentIndex = index
        combo.blockSignals(wasBlocked)

    def setModels(self, choices, index) -> None:
        self._fillCombo(self.ui.modelComboBox, choices, index)

    def setFinetuneModels(self, choices, index) -> None:
        self._fillCombo(self.ui.finetuneModelComboBox, choices, index)

    def modelPath(self) -> str:
        return self.ui.modelComboBox.currentData or ""

    def finetuneModelPath(self) -> str:
        return self.ui.finetuneModelComboBox.currentData or ""

    def setModelInfo(self, text: str) -> None:
        self.ui.modelInfoLabel.text = _(text)

    # -- PanelView: findings -------------------------------------------------------------------------------------
    def showFindings(self, headers, rows) -> None:
        table = self.ui.findingsTableWidget
        self._updatingTable = True
        table.setColumnCount(len(headers))  # a candidates result has a Calibre column
        table.setHorizontalHeaderLabels([_(h) for h in headers])
        table.setRowCount(len(rows))
        dimmed = qt.QBrush(qt.QColor("gray"))
        for row, finding in enumerate(rows):
            show = qt.QTableWidgetItem()
            show.setFlags(qt.Qt.ItemIsUserCheckable | qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable)
            show.setCheckState(qt.Qt.Checked if finding.visible else qt.Qt.Unchecked)
            table.setItem(row, 0, show)
            for column, text in enumerate(finding.texts, start=1):
                item = qt.QTableWidgetItem(text)
                if finding.belowThreshold:
                    item.setForeground(dimmed)
                    item.setToolTip(_("Score below the threshold: hidden, and not exported unless marked completed"))
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        self._updatingTable = False

    def _selectedRow(self):
        rows = {index.row() for index in self.ui.findingsTableWidget.selectedIndexes()}
        return rows.pop() if len(rows) == 1 else None

    def _onFindingItemChanged(self, item) -> None:
        if not self._updatingTable and item.column() == 0:
            self.presenter.onFindingVisibilityToggled(item.row(), item.checkState() == qt.Qt.Checked)

    def setFindingReview(self, row: int, text: str) -> None:
        self._updatingTable = True
        table = self.ui.findingsTableWidget
        table.item(row, table.columnCount - 1).setText(text)
        self._updatingTable = False

    def selectFinding(self, row) -> None:
        table = self.ui.findingsTableWidget
        wasBlocked = table.blockSignals(True)
        if row is None:
            table.clearSelection()
        else:
            table.selectRow(row)
        table.blockSignals(wasBlocked)

    def setScoreThreshold(self, visible: bool, value: float) -> None:
        slider = self.ui.scoreThresholdSlider
        self.ui.scoreThresholdLabel.visible = visible
        slider.visible = visible
        wasBlocked = slider.blockSignals(True)
        slider.value = value
        slider.blockSignals(wasBlocked)

    def setReviewChoice(self, index: int) -> None:
        self.ui.reviewStatusComboBox.currentIndex = index

    # -- PanelView: folders and fields ---------------------------------------------------------------------------
    def exportFolder(self) -> str:
        return self.ui.exportFolderPathLineEdit.currentPath

    def rememberExportFolder(self) -> None:
        self.ui.exportFolderPathLineEdit.addCurrentPathToHistory()

    def studyFolder(self) -> str:
        return self.ui.studyFolderPathLineEdit.currentPath

    def caseId(self) -> str:
        return self.ui.caseIdLineEdit.text

    def setCaseId(self, text: str) -> None:
        self.ui.caseIdLineEdit.text = text

    def setStudyInfo(self, text: str) -> None:
        self.ui.studyInfoLabel.text = text

    # -- PanelView: segment editor and views ---------------------------------------------------------------------
    def enterEditor(self) -> None:
        editorLifecycle.enterEditor(self.ui.segmentEditorWidget, slicer.mrmlScene)

    def exitEditor(self) -> None:
        editorLifecycle.exitEditor(self.ui.segmentEditorWidget)

    def editorSceneStartClose(self) -> None:
        editorLifecycle.sceneStartClose(self.ui.segmentEditorWidget)

    def editorSceneEndClose(self, entered: bool) -> None:
        editorLifecycle.sceneEndClose(self.ui.segmentEditorWidget, slicer.mrmlScene, entered)

    def setEditorInputs(self, segmentationNode, ctNode) -> None:
        editorLifecycle.setEditorInputs(self.ui.segmentEditorWidget, segmentationNode, ctNode)

    def selectSegment(self, segmentId: str) -> None:
        self.ui.segmentEditorWidget.setCurrentSegmentID(segmentId)

    def jumpTo(self, centerRas) -> None:
        slicer.modules.markups.logic().JumpSlicesToLocation(*centerRas, True)

    def showSegmentEditorModule(self, segmentationNode, ctNode) -> None:
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editorLifecycle.setEditorInputs(editor, segmentationNode, ctNode)

    # -- PanelView: dialogs, files, timers -----------------------------------------------------------------------
    def confirm(self, text: str) -> bool:
        return slicer.util.confirmOkCancelDisplay(_(text))

    def confirmYesNo(self, text: str) -> bool:
        return slicer.util.confirmYesNoDisplay(_(text))

    def info(self, text: str, detail: str = "") -> None:
        slicer.util.infoDisplay(_(text), detailedText=detail or None)

    def error(self, text: str, detail: str = "") -> None:
        slicer.util.errorDisplay(_(text), detailedText=detail or None)

    def chooseModelFile(self) -> str:
        return qt.QFileDialog.getOpenFileName(self.parent, _("Import IExplain model"), "",
                                              _("IExplain model (*.safetensors)"))

    def openFolder(self, path: str) -> None:
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(path))

    def restartApplication(self) -> None:
        slicer.util.restart()

    def startPolling(self) -> None:
        self.pollTimer.start()

    def stopPolling(self) -> None:
        self.pollTimer.stop()

    def startFindingsTimer(self) -> None:
        self.findingsTimer.start()

    def stopFindingsTimer(self) -> None:
        self.findingsTimer.stop()

    def onReload(self) -> None:
        """Reload the Lib modules too, so edits to them take effect without restarting Slicer."""
        import importlib

        for name in LIB_MODULES:
            module = sys.modules.get(f"IExplainSlicerLib.{name}")
            if module is not None:
                importlib.reload(module)
        ScriptedLoadableModuleWidget.onReload(self)


class IExplainLogic(ScriptedLoadableModuleLogic, ModuleLogic):
    """Detection, results, export and finetuning (ModuleLogic, which tests run); can be used without the GUI
    widget (see ``process``). Only what needs the Slicer application is set here."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        ModuleLogic.__init__(self, slicer.mrmlScene, ModuleSettings(qt.QSettings), Path(__file__).resolve().parent,
                             Path(slicer.app.temporaryPath), shutil.which("PythonSlicer"),
                             slicer.util.startupEnvironment, slicer.app.applicationVersion,
                             testing=slicer.app.testingEnabled())

    def getParameterNode(self):
        return IExplainParameterNode(super().getParameterNode())

    def loadVolume(self, path):
        """Slicer's own loader (it also shows the volume in the views)."""
        return slicer.util.loadVolume(str(path))

    def loadPhantomSample(self) -> list:
        """The SampleData entry: a phantom CTPA (generated once into Slicer's cache) and its truth segmentation."""
        folder = Path(slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()) / "IExplain"
        sample = writePhantomSample(folder)
        ctNode = slicer.util.loadVolume(str(sample.ct), {"name": SAMPLE_NODE_NAME})
        slicer.util.loadSegmentation(str(sample.truth), {"name": f"{SAMPLE_NODE_NAME} truth"})
        return [ctNode]

    def reviewSummary(self, segmentationNode) -> list:
        return [(s["name"], s["status"]) for s in export.segmentReviewSummary(segmentationNode)]


class IExplainTest(ScriptedLoadableModuleTest):
    """Runs detection on a small synthetic CTPA phantom with the bundled demo model and checks the segments."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        """The short test always (seconds: no install, no worker); the worker run only with
        IEXPLAIN_FULL_SELF_TEST=1 (installs the dependencies, then a fast CPU detection)."""
        self.setUp()
        self.test_IExplainResultsAndExport()
        self.test_IExplainPanelWidgets()  # on the scene the short test left: a phantom result
        if os.environ.get("IEXPLAIN_FULL_SELF_TEST") == "1":
            self.setUp()
            self.test_IExplainPhantomDetection()

    def test_IExplainResultsAndExport(self):
        import tempfile

        logic = IExplainLogic()
        folder = Path(tempfile.mkdtemp(prefix="IExplainTest-"))
        checkResultsAndExport(self, slicer.mrmlScene, logic.exportForFinetuning, folder, announce=self.delayDisplay)
        self.delayDisplay("Test passed")

    def test_IExplainPanelWidgets(self):
        """The real widgets behind the presenter (pytest drives the presenter through a recorder instead): a chosen
        segmentation fills the findings table, a review choice reaches its row, Close Scene empties the table."""
        if slicer.util.mainWindow() is None:
            return  # no widgets without the main window (generic tests run with --no-main-window)
        segmentationNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
        self.assertIsNotNone(segmentationNode, "the short test leaves a result in the scene")
        slicer.util.selectModule("IExplain")
        widget = slicer.modules.iexplain.widgetRepresentation().self()
        widget.ui.outputSegmentationSelector.setCurrentNode(segmentationNode)
        table = widget.ui.findingsTableWidget
        self.assertEqual(table.rowCount, segmentationNode.GetSegmentation().GetNumberOfSegments())
        table.selectRow(0)  # itemSelectionChanged -> presenter.onFindingSelected(0)
        widget.presenter.onReviewStatusChosen(REVIEW_STATUSES.index("flagged"))
        self.assertEqual(table.item(0, table.columnCount - 1).text(), "Flagged")
        self.assertTrue(widget.presenter.hasUnexportedCorrections())
        # Close Scene would offer to export the correction (and a testing-mode dialog says yes): not into the
        # user's dataset folder from a self-test
        segmentationNode.SetAttribute(UNEXPORTED_ATTRIBUTE, "0")
        slicer.mrmlScene.Clear(0)
        self.assertEqual(table.rowCount, 0)
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
        reducers = logic.registry().models("reducer")
        if reducers:  # the candidates method with the bundled false-positive reducer
            checkCandidatesDetection(self, slicer.mrmlScene, reducers[0].weightsPath, detectInWorker, folder,
                                     announce=self.delayDisplay)
        self.delayDisplay("Test passed")
