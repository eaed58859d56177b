"""``iexplain finetune`` on the export folder, in the background; the new model joins the registry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from IExplainLib.errors import IExplainError

from .commands import finetuneArguments
from .job import Job
from .model_registry import ModelEntry, ModelRegistry
from .worker import WorkerLauncher


class FinetuneRun:
    def __init__(self, baseModel: ModelEntry, datasetFolder: str | Path, registry: ModelRegistry,
                 launcher: WorkerLauncher, device: str = "auto", extraArguments: Sequence[str] = ()):
        if baseModel.kind != "segmenter":
            raise IExplainError(f"{baseModel.name} is a {baseModel.kind}; finetuning needs a segmenter model")
        self.baseModel = baseModel
        self.datasetFolder = Path(datasetFolder)
        self.registry = registry
        self.launcher = launcher
        self.device = device
        self.extraArguments = list(extraArguments)  # schedule overrides (tests finetune for a few iterations)
        self.outputPath = registry.newFinetunedPath(baseModel)
        self.job: Job | None = None

    def start(self) -> Job:
        args = finetuneArguments(self.baseModel.weightsPath, self.datasetFolder, self.outputPath, self.device,
                                 self.extraArguments)
        self.job = self.launcher.job(args, "iexplain finetune", self.device)
        self.job.start()
        return self.job

    def finish(self) -> ModelEntry:
        """After a successful job: the finetuned model as a registry entry."""
        if not self.outputPath.exists():
            raise IExplainError(f"iexplain finetune finished but {self.outputPath.name} was not written (see the log)")
        return self.registry.registerFinetuned(self.outputPath)


def startFinetuneRun(baseModel: ModelEntry, datasetFolder: str | Path, registry: ModelRegistry,
                     launcher: WorkerLauncher, device: str = "auto", extraArguments: Sequence[str] = ()) -> FinetuneRun:
    """A started run for the widget to poll (``run.job``) and then :meth:`FinetuneRun.finish`."""
    run = FinetuneRun(baseModel, datasetFolder, registry, launcher, device, extraArguments)
    run.start()
    return run
