"""The panel's run state machine, without Qt: one detection or finetuning at a time, cancel, scene close, quit.

States (``RunState``)::

    IDLE --start--> RUNNING --worker ends, results imported--> FINISHED
                       |     --worker fails / import fails----> FAILED
                       +--cancel--> CANCELLING --worker gone--> CANCELLED
    FINISHED, FAILED, CANCELLED --start--> RUNNING (a new run);  any --sceneClosed--> IDLE when not busy

The widget calls :meth:`RunController.poll` from a ``qt.QTimer`` and shows what :attr:`state`, :attr:`progress`
and the returned :class:`RunOutcome` say; nothing here blocks the GUI thread except :meth:`shutdown` (Slicer is
quitting, bounded by its timeout). Rules that used to be scattered over the widget:

- ``result`` of the job is read only once it exists: a cancel moves to CANCELLING, and the run ends when the
  worker's output is drained, never while ``result`` is still None;
- a cancel that arrives after the worker has ended changes nothing: the run ends as the worker ended;
- closing the scene during a detection cancels it and discards its output (its CT node is gone); a finetuning
  does not depend on the scene and keeps running;
- every run's temporary folder is removed however it ends, quitting included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .job import Job, JobResult, JobStatus
from .overall_progress import OverallProgress, weightsFor
from .progress_tracker import ProgressState


class RunState(Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunKind(Enum):
    DETECTION = "detection"
    FINETUNE = "finetune"


BUSY_STATES = (RunState.RUNNING, RunState.CANCELLING)


class StartedRun(Protocol):
    """What ``startRun`` returns (a DetectionRun or a FinetuneRun): a run whose worker ``job`` has been started.
    It may also have a ``cleanup()``, called however the run ends."""

    job: Job | None


@dataclass
class RunOutcome:
    """How a run ended: its state (FINISHED, FAILED or CANCELLED), a one-line message and what it produced."""

    kind: RunKind
    state: RunState
    message: str = ""
    value: object = None  # DetectionResults or the finetuned ModelEntry
    log: str = ""


class RunController:
    """Owns the running job; the widget asks it what to show. Callbacks run on the caller's thread, in ``poll``."""

    def __init__(self, onStateChanged: Callable[[RunState], None] | None = None,
                 onProgress: Callable[[ProgressState, OverallProgress], None] | None = None,
                 onLog: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.onStateChanged = onStateChanged
        self.onProgress = onProgress
        self.onLog = onLog
        self.clock = clock
        self.state = RunState.IDLE
        self.kind: RunKind | None = None
        self.run: StartedRun | None = None
        self.outcome: RunOutcome | None = None
        self.overall: OverallProgress | None = None
        self._finish: Callable[[StartedRun], object] | None = None
        self._discardReason = ""

    # -- questions the panel asks ------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.state in BUSY_STATES

    @property
    def title(self) -> str:
        return self.run.job.title if self.run is not None and self.run.job is not None else ""

    # -- transitions -------------------------------------------------------------------------------------------------
    def start(self, kind: RunKind, startRun: Callable[[], StartedRun], finish: Callable[[StartedRun], object],
              method: str = "iexplain"):
        """Start a run: ``startRun()`` returns a started run (``.job``, optional ``.cleanup()``); ``finish(run)``
        imports what it produced once the worker succeeded. A failure to start leaves the state FAILED and raises."""
        if self.busy:
            raise RuntimeError(f"{self.title or 'a run'} is still running; cancel it first")
        self.kind, self.outcome, self._discardReason = kind, None, ""
        try:
            run = startRun()
        except Exception as error:
            self.outcome = RunOutcome(kind, RunState.FAILED, str(error))
            self._setState(RunState.FAILED)
            raise
        self.run, self._finish = run, finish
        self.overall = OverallProgress(weightsFor(kind.value, method), self.clock)
        _, _, job = self._current()
        job.onProgress = self._progress
        job.onLog = self.onLog
        self._setState(RunState.CANCELLING if job.status is JobStatus.CANCELLING else RunState.RUNNING)
        return run

    def cancel(self) -> bool:
        """Ask the worker to stop (returns at once). False when there was nothing to stop: not running, already
        cancelling, or the worker had already ended (then the next :meth:`poll` reports how it ended)."""
        if self.state is not RunState.RUNNING:
            return False
        _, _, job = self._current()
        if not job.cancel():
            return False
        self._setState(RunState.CANCELLING)
        return True

    def poll(self) -> RunOutcome | None:
        """Read the worker's new output; returns the outcome once, when the run has just ended."""
        if not self.busy:
            return None
        _, _, job = self._current()
        job.poll()
        result = job.result
        if result is None:
            return None
        return self._complete(result)

    def sceneClosing(self) -> None:
        """The scene is about to close: a detection's CT goes with it, so stop it and never import its output."""
        if self.busy and self.kind is RunKind.DETECTION:
            self._discardReason = "the scene was closed during the run"
            self.cancel()

    def sceneClosed(self) -> None:
        """After the scene closed: a finished run's outcome refers to nodes that are gone."""
        if not self.busy:
            self.outcome = None
            self._setState(RunState.IDLE)

    def shutdown(self, timeout: float = 5.0) -> RunOutcome | None:
        """Slicer is quitting: kill the worker's tree, wait at most ``timeout`` for it, remove temporary files."""
        if not self.busy:
            return None
        self._discardReason = "Slicer was closed during the run"
        kind, _, job = self._current()
        job.kill()
        if not job.drain(timeout) or job.result is None:
            return self._end(RunOutcome(kind, RunState.CANCELLED, self._discardReason, log=job.log))
        return self._complete(job.result)

    # -- internals ---------------------------------------------------------------------------------------------------
    def _current(self) -> tuple[RunKind, StartedRun, Job]:
        """The run in progress, its kind and its job: :meth:`start` sets them and they stay until :meth:`_end`
        (so whenever the state is busy)."""
        if self.kind is None or self.run is None or self.run.job is None:
            raise RuntimeError("no run has been started")
        return self.kind, self.run, self.run.job

    def _progress(self, state: ProgressState) -> None:
        overall = self.overall  # set by start, before the job can report
        if overall is None:
            return
        overall.update(state.stage, state.fraction)
        if self.onProgress:
            self.onProgress(state, overall)

    def _complete(self, result: JobResult) -> RunOutcome:
        kind, run, _ = self._current()
        if self._discardReason:
            outcome = RunOutcome(kind, RunState.CANCELLED, f"Cancelled: {self._discardReason}", log=result.log)
        elif result.status is JobStatus.CANCELLED:
            outcome = RunOutcome(kind, RunState.CANCELLED, "Cancelled.", log=result.log)
        elif not result.succeeded:
            outcome = RunOutcome(kind, RunState.FAILED, result.errorMessage, log=result.log)
        else:
            try:
                if self._finish is None:  # (start sets it with the run)
                    raise RuntimeError("the run has no import step")
                outcome = RunOutcome(kind, RunState.FINISHED, "", self._finish(run), result.log)
            except Exception as error:  # an import failure is this run's failure, not a crash of the panel
                outcome = RunOutcome(kind, RunState.FAILED, f"could not load the results: {error}",
                                     log=result.log)
        return self._end(outcome)

    def _end(self, outcome: RunOutcome) -> RunOutcome:
        run, self.run, self._finish = self.run, None, None
        cleanup = getattr(run, "cleanup", None)
        if cleanup is not None:
            cleanup()
        self.outcome = outcome
        if outcome.state is RunState.FINISHED and self.overall is not None:
            self.overall.update("done", 1.0)
        self._setState(outcome.state)
        return outcome

    def _setState(self, state: RunState) -> None:
        changed = state is not self.state
        self.state = state
        if changed and self.onStateChanged:
            self.onStateChanged(state)
