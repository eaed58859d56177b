"""How the module starts ``iexplain`` workers: which Python, which environment, which process runner.

In Slicer the worker runs with Slicer's own Python (``PythonSlicer``, with the startup environment it expects), so
it sees the PyTorch, MONAI, Captum and timm that the module installed; ``IExplainLib`` is found through
``PYTHONPATH`` and the working folder. The process runner is injected (SlicerNNUnet style): tests pass the real
:class:`BackgroundProcess` or their own runner; a remote runner could be added the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import IExplainLib

from .commands import CLI_MODULE
from .job import Job
from .process import BackgroundProcess, ProcessProtocol, pythonCommand

# typing.Optional, not "X | None": this alias is evaluated at import, and Slicer 5.8 runs Python 3.9
ProcessFactory = Callable[[Sequence[str], Optional[Mapping[str, str]], Optional[str]], ProcessProtocol]


def _defaultFactory(args, env, cwd) -> ProcessProtocol:
    return BackgroundProcess(args, env=env, cwd=cwd)


@dataclass
class WorkerLauncher:
    """Builds :class:`Job` objects for ``python -m IExplainLib.cli.main <command> ...``."""

    libraryRoot: Path  # the folder that contains the IExplainLib package
    python: str = sys.executable
    environment: Mapping[str, str] | None = None  # None: this process's environment
    cliModule: str = CLI_MODULE
    processFactory: ProcessFactory = _defaultFactory
    extraPythonPath: list[str] = field(default_factory=list)

    def environmentFor(self, device: str = "auto") -> dict[str, str]:
        env = dict(os.environ if self.environment is None else self.environment)
        paths = [str(self.libraryRoot), *self.extraPythonPath]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"  # progress lines must arrive as they are printed, not at exit
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = "-1"  # belt and braces with --device cpu (SlicerTotalSegmentator#14)
        return env

    def command(self, args: Sequence[str]) -> list[str]:
        return pythonCommand(self.cliModule, args, self.python)

    def job(self, args: Sequence[str], title: str, device: str = "auto") -> Job:
        process = self.processFactory(self.command(args), self.environmentFor(device), str(self.libraryRoot))
        return Job(process, title)


def slicerWorkerLauncher(pythonSlicer: str | None, startupEnvironment: Callable[[], Mapping[str, str]],
                         processFactory: ProcessFactory | None = None) -> WorkerLauncher:
    """Workers run with Slicer's Python; ``PythonSlicer`` needs the environment Slicer started with, so
    ``startupEnvironment`` is only asked for when there is one. Without it: this process's Python and environment."""
    launcher = WorkerLauncher(libraryRoot=Path(IExplainLib.__file__).resolve().parent.parent,
                              python=pythonSlicer or sys.executable,
                              environment=startupEnvironment() if pythonSlicer else None)
    if processFactory is not None:
        launcher.processFactory = processFactory
    return launcher
