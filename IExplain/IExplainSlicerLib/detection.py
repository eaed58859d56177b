"""One detection run from the module: CT node -> temporary file -> ``iexplain detect`` worker -> nodes.

The temporary folder holds only the CT copy and is removed when the run ends, whatever the outcome. The worker's
segmentation and heat map are moved into a results folder first: the segmentation is the model's *original* output,
kept apart from the radiologist's corrections and copied into the finetuning export.

Each run's nodes are named "<CT> PE run N" (N counts this CT's runs), so runs never share a name; the segmentation
references its own heat map and findings table (``HEATMAP_REFERENCE``, ``TABLE_REFERENCE``), records the CT it was
made on (``provenance``) and the worker's warnings (``WARNINGS_ATTRIBUTE``). A CT that is a frame of a Sequence is
refused: only the frame shown would be analysed, and the user would not know.

A candidates run brings every candidate (the worker runs with ``--score-threshold 0``): each segment gets its score
and calibre from the findings file, and the segmentation starts at the reducer card's threshold, below which
segments are hidden (``score_threshold``); its map is the score map (``--scores``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from IExplainLib.errors import IExplainError

from .commands import MAP_KIND_OF_METHOD, DetectSettings, detectArguments
from .findings_table import Finding, computeFindings, fillTableNode
from .heatmap import loadHeatmap
from .job import Job, JobResult, contrastFirst
from .provenance import recordSourceCt
from .score_threshold import applyScoreThreshold, cardThreshold
from .segments import ORIGINAL_OUTPUT_ATTRIBUTE, RUN_SETTINGS_ATTRIBUTE, WARNINGS_ATTRIBUTE, loadDetectionSegmentation
from .volumes import sequenceBrowserOf, writeVolumeNode
from .worker import WorkerLauncher

if TYPE_CHECKING:  # MRML classes, named in annotations only (Any to mypy: slicer has no type information)
    from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode

RUN_OF_ATTRIBUTE = "IExplain.RunOf"  # "<CT node ID> <N>": which CT's N-th run a segmentation is
HEATMAP_REFERENCE = "IExplainHeatmap"
TABLE_REFERENCE = "IExplainFindingsTable"


@dataclass
class DetectionResults:
    segmentationNode: vtkMRMLSegmentationNode
    heatmapNode: vtkMRMLScalarVolumeNode | None
    tableNode: vtkMRMLTableNode
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)


class DetectionRun:
    """Prepare, start, import, clean up. The widget polls ``run.job``; scripts call :meth:`runToCompletion`."""

    def __init__(self, ctNode, settings: DetectSettings, launcher: WorkerLauncher, resultsRoot: str | Path,
                 workRoot: str | Path | None = None):
        settings.validate()
        browser = sequenceBrowserOf(ctNode)
        if browser is not None:
            raise IExplainError(f"{ctNode.GetName()} is a frame of the sequence {browser.GetName()}: only the frame "
                                "shown now would be analysed. Export that frame as its own volume (Sequences "
                                "module) and run detection on it")
        self.ctNode = ctNode
        self.settings = settings
        self.launcher = launcher
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.resultsFolder = Path(resultsRoot) / f"{_safe(ctNode.GetName())}-{stamp}"
        self.workFolder = Path(tempfile.mkdtemp(prefix="IExplain-", dir=workRoot))
        self.ctPath = self.workFolder / "ct.nrrd"
        self.outputPath = self.workFolder / "pe.seg.nrrd"
        # iExplain's attribution heat map, the segmenter's probability map or the candidates' score map: the panel's
        # overlay (and the score source of the first two)
        self.heatmapPath = self.workFolder / f"{MAP_KIND_OF_METHOD[settings.method]}.nrrd"
        self.findingsPath = self.workFolder / "pe.findings.json"
        self.job: Job | None = None

    def start(self) -> Job:
        """Write the CT (uncompressed: the worker reads it at once) and start the worker."""
        try:
            writeVolumeNode(self.ctNode, self.ctPath, compress=False)
            args = detectArguments(self.ctPath, self.outputPath, self.heatmapPath, self.settings)
            self.job = self.launcher.job(args, "iexplain detect", self.settings.device)
            self.job.start()
        except BaseException:
            self.cleanup()
            raise
        return self.job

    def importResults(self, scene) -> DetectionResults:
        """After a successful job: keep the worker's files, then build segmentation, heat map and findings nodes."""
        if not self.outputPath.exists():
            raise IExplainError("iexplain detect finished but wrote no segmentation (see the log)")
        if self.ctNode.GetScene() is not scene:
            raise IExplainError(f"the CT {self.ctNode.GetName()} was removed from the scene during the run")
        self.resultsFolder.mkdir(parents=True, exist_ok=True)
        keptOutput = Path(shutil.move(str(self.outputPath), self.resultsFolder / self.outputPath.name))
        keptHeatmap = None
        if self.heatmapPath is not None and self.heatmapPath.exists():
            keptHeatmap = Path(shutil.move(str(self.heatmapPath), self.resultsFolder / self.heatmapPath.name))
        if self.findingsPath.exists():
            shutil.move(str(self.findingsPath), self.resultsFolder / self.findingsPath.name)
        keptFindings = self.resultsFolder / self.findingsPath.name
        result = self.job.result if self.job else None
        warnings = workerWarnings(result, keptFindings)
        runSettings = self.settings.asDict()
        (self.resultsFolder / "run.json").write_text(json.dumps(
            {"ct_node": self.ctNode.GetName(), "settings": runSettings, "warnings": warnings,
             "final_event": result.finalEvent if result else None}, indent=2),
            encoding="utf-8")
        run = nextRunNumber(scene, self.ctNode)
        ctName = self.ctNode.GetName()
        candidates = candidateRows(keptFindings) if self.settings.method == "candidates" else None
        segmentationNode = loadDetectionSegmentation(scene, keptOutput, self.ctNode, f"{ctName} PE run {run}",
                                                     candidates)
        segmentationNode.SetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE, str(keptOutput))
        segmentationNode.SetAttribute(RUN_SETTINGS_ATTRIBUTE, json.dumps(runSettings))
        segmentationNode.SetAttribute(WARNINGS_ATTRIBUTE, json.dumps(warnings))
        segmentationNode.SetAttribute(RUN_OF_ATTRIBUTE, f"{self.ctNode.GetID()} {run}")
        recordSourceCt(segmentationNode, self.ctNode)
        if candidates is not None:
            applyScoreThreshold(segmentationNode, cardThreshold(self.settings.reducerModel))
        kind = MAP_KIND_OF_METHOD[self.settings.method]
        heatmapNode = loadHeatmap(scene, keptHeatmap, self.ctNode, f"{ctName} {kind} run {run}") \
            if keptHeatmap else None
        tableNode = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{ctName} PE findings run {run}")
        segmentationNode.SetNodeReferenceID(TABLE_REFERENCE, tableNode.GetID())
        if heatmapNode is not None:
            segmentationNode.SetNodeReferenceID(HEATMAP_REFERENCE, heatmapNode.GetID())
        findings = computeFindings(segmentationNode, self.ctNode, heatmapNode)
        fillTableNode(tableNode, findings, warnings)
        return DetectionResults(segmentationNode, heatmapNode, tableNode, findings, warnings)

    def finish(self, scene) -> DetectionResults:
        """After a successful job: the result nodes; the temporary folder goes even when the import fails."""
        try:
            return self.importResults(scene)
        finally:
            self.cleanup()

    def runToCompletion(self, scene, timeout: float = 600.0) -> DetectionResults:
        """Blocking run for scripts and the self-test (the GUI polls instead)."""
        try:
            job = self.job if self.job is not None else self.start()
            result = job.runToCompletion(timeout)
            if not result.succeeded:
                raise IExplainError(result.errorMessage)
            return self.importResults(scene)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Remove the temporary folder (the CT copy and anything the worker left); safe to call more than once."""
        shutil.rmtree(self.workFolder, ignore_errors=True)


def startDetectionRun(ctNode, settings: DetectSettings, launcher: WorkerLauncher,
                      resultsRoot: str | Path) -> DetectionRun:
    """A started run for the widget to poll (``run.job``) and then :meth:`DetectionRun.finish`."""
    run = DetectionRun(ctNode, settings, launcher, resultsRoot)
    job = run.start()
    # the command line where the runner keeps one (BackgroundProcess.args): ProcessProtocol does not ask for it, and
    # a runner without it must not fail here, after its worker has started
    logging.info("IExplain: started %s", " ".join(getattr(job.process, "args", None) or [job.title]))
    return run


def nextRunNumber(scene, ctNode) -> int:
    """1 + the highest run number of ``ctNode``'s segmentations in the scene."""
    runs = [0]
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")):
        ctId, _, number = (scene.GetNthNodeByClass(index, "vtkMRMLSegmentationNode").GetAttribute(RUN_OF_ATTRIBUTE)
                           or "").partition(" ")
        if ctId == ctNode.GetID() and number.isdigit():
            runs.append(int(number))
    return max(runs) + 1


def candidateRows(findingsPath: Path) -> dict[int, dict]:
    """The rows of a candidates run's findings file by finding number (= the segment's label value)."""
    try:
        document = json.loads(findingsPath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise IExplainError(f"the candidates run wrote no readable findings file {findingsPath.name}: {error}") \
            from error
    rows = document.get("findings") if isinstance(document, dict) else None
    if document.get("method") != "candidates" or not isinstance(rows, list):
        raise IExplainError(f"{findingsPath.name} is not the findings file of a candidates run")
    return {int(row["finding"]): row for row in rows if isinstance(row, dict) and "finding" in row and "score" in row}


def workerWarnings(result: JobResult | None, findingsPath: Path) -> list[str]:
    """The worker's warnings: its progress events, then its findings document's ``warnings`` (contrast first)."""
    warnings = list(result.warnings) if result is not None else []
    if findingsPath.is_file():
        try:
            document = json.loads(findingsPath.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            document = {}
        listed = document.get("warnings") if isinstance(document, dict) else None
        warnings += [str(w) for w in listed or [] if str(w) not in warnings]
    return contrastFirst(warnings)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "ct"
