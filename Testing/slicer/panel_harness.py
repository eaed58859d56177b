"""What the panel presenter's tests need besides the real scene: a strict view and the parameter node's wrapper.

- :class:`StrictView` stands in for the Qt widgets (no Qt on slicer-core). It implements exactly the abstract
  methods of ``PanelView`` and nothing else (a test checks this), so a presenter calling a misspelt or unknown view
  method fails with AttributeError. It records every call and keeps the state a widget would keep.
- :class:`ScriptedParameters` stands in for ``slicer.parameterNodeWrapper`` (absent from slicer-core) only: the
  values live in a real singleton ``vtkMRMLScriptedModuleNode`` of the real scene, so ``scene.Clear(0)`` empties
  them exactly as in Slicer. Its fields and defaults are read from ``IExplainParameterNode`` in the module file.
"""

from __future__ import annotations

import ast
from pathlib import Path

from IExplainSlicerLib.module_logic import ModuleLogic
from IExplainSlicerLib.panel_presenter import FindingRow, PanelView

MODULE_FILE = Path(__file__).resolve().parents[2] / "IExplain" / "IExplain.py"
NODE_TYPES = ("vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLTableNode")


def parameterFields() -> dict[str, tuple[str, object]]:
    """``{name: (type, default)}`` of ``IExplainParameterNode`` as the module file declares it."""
    tree = ast.parse(MODULE_FILE.read_text(encoding="utf-8"))
    wrapper = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "IExplainParameterNode")
    fields = {}
    for item in wrapper.body:
        if isinstance(item, ast.AnnAssign):
            annotation = item.annotation
            if isinstance(annotation, ast.Subscript):  # Annotated[int, WithinRange(...)]
                annotation = annotation.slice.elts[0]
            kind = ast.unparse(annotation)
            fields[item.target.id] = (kind, ast.literal_eval(item.value) if item.value is not None else None)
    return fields


class ScriptedParameters:
    """Attribute access to a singleton ``vtkMRMLScriptedModuleNode`` with the wrapper's field types."""

    _FIELDS = parameterFields()

    def __init__(self, scene, tag: str = "IExplain"):
        node = scene.GetSingletonNode(tag, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
            node.SetSingletonTag(tag)
            node.SetAttribute("ModuleName", tag)
        object.__setattr__(self, "parameterNode", node)

    def __getattr__(self, name):
        kind, default = self._FIELDS[name]  # KeyError: not a field of IExplainParameterNode
        node = self.parameterNode
        if kind in NODE_TYPES:
            return node.GetNodeReference(name)
        text = node.GetParameter(name)
        if text == "":
            return default
        return {"bool": lambda t: t == "true", "int": int, "float": float}.get(kind, str)(text)

    def __setattr__(self, name, value):
        kind, _default = self._FIELDS[name]
        node = self.parameterNode
        if kind in NODE_TYPES:
            node.SetNodeReferenceID(name, value.GetID() if value is not None else None)
        else:
            node.SetParameter(name, ("true" if value else "false") if kind == "bool" else str(value))


class PanelTestLogic(ModuleLogic):
    """The module's logic as IExplainLogic builds it, with the parameter node's wrapper of the tests."""

    def getParameterNode(self):
        return ScriptedParameters(self.scene)


class StrictView(PanelView):
    """The panel's widgets, recorded. Dialog answers come from ``answers`` (a list, consumed in order)."""

    def __init__(self, exportFolder="", studyFolder=""):
        self.calls: list[tuple] = []
        self.answers: list[bool] = []
        self.questions: list[str] = []
        self.infos: list[str] = []
        self.errors: list[str] = []
        self.status = ""
        self.banner = ""
        self.log: list[str] = []
        self.boundNode = None
        self.buttons: dict = {}
        self.models: list[tuple[str, str]] = []
        self.modelIndex = -1
        self.finetuneModels: list[tuple[str, str]] = []
        self.finetuneIndex = -1
        self.headers: list[str] = []
        self.rows: list[FindingRow] = []
        self.selectedRow: int | None = None
        self.reviewChoice = 0
        self.thresholdShown = False
        self.threshold = 0.0
        self._exportFolder = exportFolder
        self._studyFolder = studyFolder
        self._caseId = ""
        self.modelFile = ""
        self.polling = False
        self.findingsTimer = False
        self.editorInputs = (None, None)
        self.presenter = None  # set by the test: the selectors' signals go to its handlers
        self._selected: dict = {}
        self._observer = 0

    def _record(self, *call) -> None:
        self.calls.append(call)

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def bindParameterNode(self, node) -> None:
        """Like ``connectGui``: the bound selectors follow the parameter node and, as a qMRMLNodeComboBox does,
        emit ``currentNodeChanged`` (here: call the presenter's handler) when their node changes."""
        if self.boundNode is not None:
            self.boundNode.parameterNode.RemoveObserver(self._observer)
        self.boundNode = node
        self._record("bindParameterNode", node)
        if node is not None:
            self._selected = {name: getattr(node, name) for name in self.SELECTORS}
            self._observer = node.parameterNode.AddObserver("ModifiedEvent", lambda *_: self._selectorsFollow())

    SELECTORS = {"outputSegmentation": "onSegmentationChosen", "heatmapVolume": "onHeatmapChosen"}

    def _selectorsFollow(self) -> None:
        for name, handler in self.SELECTORS.items():
            current = getattr(self.boundNode, name)
            if current is not self._selected.get(name):
                self._selected[name] = current
                if self.presenter is not None:
                    getattr(self.presenter, handler)(current)

    def setStatus(self, text: str) -> None:
        self.status = text
        self._record("setStatus", text)

    def setBanner(self, text: str) -> None:
        self.banner = text
        self._record("setBanner", text)

    def appendLog(self, text: str) -> None:
        self.log.append(text)

    def clearLog(self) -> None:
        self.log = []

    def expandLog(self) -> None:
        self._record("expandLog")

    def setProgress(self, percent) -> None:
        self._record("setProgress", percent)

    def setButtons(self, apply, export, finetune, nextStudy, advanced) -> None:
        self.buttons = {"apply": apply, "export": export, "finetune": finetune, "nextStudy": nextStudy,
                        "advanced": advanced}

    def setChoiceIndexes(self, methodIndex, deviceIndex) -> None:
        self._record("setChoiceIndexes", methodIndex, deviceIndex)

    def setModels(self, choices, index) -> None:
        self.models, self.modelIndex = list(choices), index

    def setFinetuneModels(self, choices, index) -> None:
        self.finetuneModels, self.finetuneIndex = list(choices), index

    def modelPath(self) -> str:
        return self.models[self.modelIndex][1] if 0 <= self.modelIndex < len(self.models) else ""

    def finetuneModelPath(self) -> str:
        ok = 0 <= self.finetuneIndex < len(self.finetuneModels)
        return self.finetuneModels[self.finetuneIndex][1] if ok else ""

    def setModelInfo(self, text: str) -> None:
        self._record("setModelInfo", text)

    def showFindings(self, headers, rows) -> None:
        self.headers, self.rows = list(headers), list(rows)
        self.selectedRow = None  # a QTableWidget rebuild clears its selection
        self._record("showFindings", len(rows))

    def setFindingReview(self, row, text) -> None:
        old = self.rows[row]
        self.rows[row] = FindingRow(old.segmentId, old.visible, (*old.texts[:-1], text), old.belowThreshold)

    def setScoreThreshold(self, visible, value) -> None:
        """The slider (its label with it): shown or hidden, and where it stands; setting it emits nothing."""
        self.thresholdShown, self.threshold = bool(visible), float(value)
        self._record("setScoreThreshold", bool(visible), float(value))

    def selectFinding(self, row) -> None:
        self.selectedRow = row

    def setReviewChoice(self, index) -> None:
        self.reviewChoice = index

    def exportFolder(self) -> str:
        return self._exportFolder

    def rememberExportFolder(self) -> None:
        self._record("rememberExportFolder")

    def studyFolder(self) -> str:
        return self._studyFolder

    def caseId(self) -> str:
        return self._caseId

    def setCaseId(self, text) -> None:
        self._caseId = text

    def setStudyInfo(self, text) -> None:
        self._record("setStudyInfo", text)

    def enterEditor(self) -> None:
        self._record("enterEditor")

    def exitEditor(self) -> None:
        self._record("exitEditor")

    def editorSceneStartClose(self) -> None:
        self.editorInputs = (None, None)
        self._record("editorSceneStartClose")

    def editorSceneEndClose(self, entered) -> None:
        self._record("editorSceneEndClose", entered)

    def setEditorInputs(self, segmentationNode, ctNode) -> None:
        self.editorInputs = (segmentationNode, ctNode)
        self._record("setEditorInputs", segmentationNode, ctNode)

    def selectSegment(self, segmentId) -> None:
        self._record("selectSegment", segmentId)

    def jumpTo(self, centerRas) -> None:
        self._record("jumpTo", tuple(centerRas))

    def showSegmentEditorModule(self, segmentationNode, ctNode) -> None:
        self._record("showSegmentEditorModule", segmentationNode, ctNode)

    def confirm(self, text) -> bool:
        self.questions.append(text)
        return self.answers.pop(0)

    def confirmYesNo(self, text) -> bool:
        self.questions.append(text)
        return self.answers.pop(0)

    def info(self, text, detail="") -> None:
        self.infos.append(text)

    def error(self, text, detail="") -> None:
        self.errors.append(text)

    def chooseModelFile(self) -> str:
        return self.modelFile

    def openFolder(self, path) -> None:
        self._record("openFolder", path)

    def restartApplication(self) -> None:
        self._record("restartApplication")

    def startPolling(self) -> None:
        self.polling = True

    def stopPolling(self) -> None:
        self.polling = False

    def startFindingsTimer(self) -> None:
        self.findingsTimer = True

    def stopFindingsTimer(self) -> None:
        self.findingsTimer = False
