"""The module's logic without Qt: what ``IExplainLogic`` does, so that tests run the same code on slicer-core.

``IExplainLogic`` (the module file) inherits this and supplies only what needs the Slicer application: ``qt.QSettings``,
``PythonSlicer`` and its startup environment, the temporary folder, ``slicer.util.loadVolume`` and the version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from .dependencies import ensureRequirements
from .detection import DetectionResults, DetectionRun, startDetectionRun
from .export import ExportResult, exportForFinetuning
from .finetuning import FinetuneRun, startFinetuneRun
from .model_registry import ModelRegistry, bundledModelFolders
from .settings import ModuleSettings
from .volumes import loadVolumeFile
from .worker import ProcessFactory, WorkerLauncher, slicerWorkerLauncher


class ModuleLogic:
    """Detection, results, export and finetuning for one scene; can be used without the GUI."""

    def __init__(self, scene, settings: ModuleSettings, moduleDir: Path, temporaryFolder: Path,
                 pythonSlicer: str | None = None, startupEnvironment: Callable[[], Mapping[str, str]] = dict,
                 slicerVersion: str = "", testing: bool = False):
        self.scene = scene
        self.settings = settings
        self._moduleDir = Path(moduleDir)
        self.temporaryFolder = Path(temporaryFolder)
        self.pythonSlicer = pythonSlicer
        self.startupEnvironment = startupEnvironment
        self.slicerVersion = slicerVersion
        self.testing = testing
        self.processFactory: ProcessFactory | None = None  # tests may inject a process runner
        self._registry: ModelRegistry | None = None

    def moduleDir(self) -> Path:
        return self._moduleDir

    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = ModelRegistry(bundledModelFolders(self.moduleDir()), self.settings.modelsFolder())
        return self._registry

    def exportFolder(self) -> str:
        return self.settings.exportFolder()

    def launcher(self) -> WorkerLauncher:
        return slicerWorkerLauncher(self.pythonSlicer, self.startupEnvironment, self.processFactory)

    def setupPythonRequirements(self) -> None:
        ensureRequirements(self.moduleDir() / "Resources" / "requirements.txt", testing=self.testing)

    def resultsFolder(self) -> Path:
        return self.temporaryFolder / "IExplain" / "results"

    def loadVolume(self, path: str | Path):
        """A study file as a volume node (Slicer's IExplainLogic uses ``slicer.util.loadVolume`` instead)."""
        return loadVolumeFile(self.scene, path)

    def startDetection(self, ctNode, settings) -> DetectionRun:
        """Start ``iexplain detect`` in the background; poll ``run.job``, then call :meth:`finishDetection`."""
        if ctNode is None:
            raise ValueError("Choose the CT volume first.")
        return startDetectionRun(ctNode, settings, self.launcher(), self.resultsFolder())

    def finishDetection(self, run: DetectionRun) -> DetectionResults:
        return run.finish(self.scene)

    def process(self, ctNode, settings, timeout: float = 3600.0) -> DetectionResults:
        """Blocking detection (scripts, self-test): returns the DetectionResults."""
        return DetectionRun(ctNode, settings, self.launcher(), self.resultsFolder()).runToCompletion(
            self.scene, timeout)

    def exportForFinetuning(self, segmentationNode, ctNode, folder, caseId=None) -> ExportResult:
        result = exportForFinetuning(segmentationNode, ctNode, folder, caseId, slicerVersion=self.slicerVersion)
        self.settings.rememberExportFolder(folder)
        return result

    def startFinetune(self, baseModel, datasetFolder, device="auto") -> FinetuneRun:
        return startFinetuneRun(baseModel, datasetFolder, self.registry(), self.launcher(), device)
