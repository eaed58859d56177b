"""One detection run from the module: CT node -> temporary file -> ``iexplain detect`` worker -> nodes.

The temporary folder holds only the CT copy and is removed when the run ends, whatever the outcome. The worker's
segmentation and heat map are moved into a results folder first: the segmentation is the model's *original* output,
kept apart from the radiologist's corrections and copied into the finetuning export.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from IExplainLib.errors import IExplainError

from .commands import DetectSettings, detectArguments
from .findings_table import Finding, computeFindings, fillTableNode
from .heatmap import loadHeatmap
from .job import Job
from .segments import ORIGINAL_OUTPUT_ATTRIBUTE, RUN_SETTINGS_ATTRIBUTE, loadDetectionSegmentation
from .volumes import writeVolumeNode
from .worker import WorkerLauncher


@dataclass
class DetectionResults:
    segmentationNode: object
    heatmapNode: object | None
    tableNode: object
    findings: list[Finding]


class DetectionRun:
    """Prepare, start, import, clean up. The widget polls ``run.job``; scripts call :meth:`runToCompletion`."""

    def __init__(self, ctNode, settings: DetectSettings, launcher: WorkerLauncher, resultsRoot: str | Path,
                 workRoot: str | Path | None = None):
        settings.validate()
        self.ctNode = ctNode
        self.settings = settings
        self.launcher = launcher
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.resultsFolder = Path(resultsRoot) / f"{_safe(ctNode.GetName())}-{stamp}"
        self.workFolder = Path(tempfile.mkdtemp(prefix="IExplain-", dir=workRoot))
        self.ctPath = self.workFolder / "ct.nrrd"
        self.outputPath = self.workFolder / "pe.seg.nrrd"
        # iExplain's attribution heat map, or the segmenter's probability map: the panel's overlay and score source
        self.heatmapPath = self.workFolder / ("attribution.nrrd" if settings.method == "iexplain" else "probability.nrrd")
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
        runSettings = self.settings.asDict()
        (self.resultsFolder / "run.json").write_text(json.dumps(
            {"ct_node": self.ctNode.GetName(), "settings": runSettings,
             "final_event": self.job.result.finalEvent if self.job and self.job.result else None}, indent=2),
            encoding="utf-8")
        segmentationNode = loadDetectionSegmentation(scene, keptOutput, self.ctNode)
        segmentationNode.SetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE, str(keptOutput))
        segmentationNode.SetAttribute(RUN_SETTINGS_ATTRIBUTE, json.dumps(runSettings))
        heatmapName = f"{self.ctNode.GetName()} {'attribution' if self.settings.method == 'iexplain' else 'probability'}"
        heatmapNode = loadHeatmap(scene, keptHeatmap, self.ctNode, heatmapName) if keptHeatmap else None
        tableNode = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{self.ctNode.GetName()} PE findings")
        findings = computeFindings(segmentationNode, self.ctNode, heatmapNode)
        fillTableNode(tableNode, findings)
        return DetectionResults(segmentationNode, heatmapNode, tableNode, findings)

    def finish(self, scene) -> DetectionResults:
        """After a successful job: the result nodes; the temporary folder goes even when the import fails."""
        try:
            return self.importResults(scene)
        finally:
            self.cleanup()

    def runToCompletion(self, scene, timeout: float = 600.0) -> DetectionResults:
        """Blocking run for scripts and the self-test (the GUI polls instead)."""
        try:
            if self.job is None:
                self.start()
            result = self.job.runToCompletion(timeout)
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
    run.start()
    logging.info("IExplain: started %s", " ".join(run.job.process.args))
    return run


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "ct"
