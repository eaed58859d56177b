"""One run of an ``iexplain`` command: a worker process, its progress, its log, and how it ended.

The widget calls :meth:`Job.poll` from a ``qt.QTimer``; tests call :meth:`Job.runToCompletion`. Callbacks keep the
job free of widgets (the TotalSegmentator ``logCallback`` idea): ``onProgress(state)``, ``onLog(text)`` and
``onFinished(result)`` are called on the caller's thread, inside ``poll``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .process import STDERR, ProcessProtocol
from .progress_tracker import ProgressState, parseEvent

MAX_LOG_CHARS = 256 * 1024  # the log widget is capped like MONAIAuto3DSeg's, so long runs do not eat memory
CONTRAST_WARNING_MARK = "angiogram"  # the worker's contrast check: a wrong series reads as a negative study


def contrastFirst(warnings: list[str]) -> list[str]:
    """The contrast check's warning first: it says every other result of the study is unreliable."""
    return sorted(warnings, key=lambda text: CONTRAST_WARNING_MARK not in text.lower())


class JobStatus(Enum):
    NOT_STARTED = "not started"
    RUNNING = "running"
    CANCELLING = "cancelling"  # asked to stop; its output is still being drained, ``result`` is still None
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class JobResult:
    status: JobStatus
    returncode: int | None
    errorMessage: str = ""
    finalEvent: dict | None = None
    log: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status is JobStatus.SUCCEEDED


@dataclass
class Job:
    """Drives a :class:`ProcessProtocol` to completion, parsing progress events from its stdout."""

    process: ProcessProtocol
    title: str = "iexplain"
    onProgress: Callable[[ProgressState], None] | None = None
    onLog: Callable[[str], None] | None = None
    onFinished: Callable[[JobResult], None] | None = None
    progress: ProgressState = field(default_factory=ProgressState)
    status: JobStatus = JobStatus.NOT_STARTED
    result: JobResult | None = None
    _log: list[str] = field(default_factory=list)
    _logChars: int = 0
    _stderrTail: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "warning" events, the not-a-CT-angiogram one first

    def start(self) -> None:
        self.process.start()
        self.status = JobStatus.RUNNING

    def cancel(self) -> bool:
        """Ask the worker (its whole process tree) to stop, without waiting: :meth:`poll` reports ``CANCELLING``
        until the process has ended and its output is read, then ``CANCELLED`` with a ``result``.

        Returns False when there is nothing to stop (not started, or the process already ended: its result stands).
        """
        if self.status is not JobStatus.RUNNING or not self.process.cancel():
            return False
        self.status = JobStatus.CANCELLING
        return True

    def kill(self) -> None:
        """Stop the tree at once (Slicer is quitting); the job ends as cancelled unless it had already finished."""
        if self.status in (JobStatus.RUNNING, JobStatus.CANCELLING):
            if self.process.isRunning():
                self.status = JobStatus.CANCELLING
            getattr(self.process, "kill", self.process.cancel)()

    @property
    def log(self) -> str:
        return "\n".join(self._log)

    def poll(self) -> JobStatus:
        """Handle new output; when the process has ended (and its pipes are drained) finish the job once.

        ``result`` is set exactly when the status becomes SUCCEEDED, FAILED or CANCELLED (never before)."""
        if self.status is JobStatus.NOT_STARTED or self.result is not None:
            return self.status
        # Ask whether the output is complete *before* reading it: the readers may queue the last line and end
        # between a read and the question, and that line (often the "done" event) would be lost (fault 9).
        ended = getattr(self.process, "outputComplete", lambda: not self.process.isRunning())()
        for line in self.process.readLines():
            event = parseEvent(line.text) if line.stream != STDERR else None
            if event is None:
                self._appendLog(line.text)
                if line.stream == STDERR and line.text.strip():
                    self._stderrTail = (self._stderrTail + [line.text.strip()])[-20:]
                continue
            if event.get("stage") == "warning":
                self._addWarning(str(event.get("message") or ""))
                continue
            self.progress.update(event)
            if event.get("stage") in ("error", "done") and event.get("message"):
                self._appendLog(f"[{event['stage']}] {event['message']}")
            if self.onProgress:
                self.onProgress(self.progress)
        if ended:
            self._finish()
        return self.status

    def runToCompletion(self, timeout: float = 600.0, interval: float = 0.05) -> JobResult:
        """Blocking loop for scripts and tests (the GUI uses a timer instead)."""
        if self.status is JobStatus.NOT_STARTED:
            self.start()
        deadline = time.monotonic() + timeout
        while self.result is None:
            self.poll()
            if self.result is None and time.monotonic() > deadline:
                self.kill()
                self.drain(5.0)
                raise TimeoutError(f"{self.title} did not finish within {timeout:.0f} s")
            time.sleep(interval)
        return self.result

    def drain(self, timeout: float = 5.0, interval: float = 0.02) -> bool:
        """Poll until the job has a result or ``timeout`` passes (after :meth:`kill`; never from a GUI slot)."""
        deadline = time.monotonic() + timeout
        while self.poll() in (JobStatus.RUNNING, JobStatus.CANCELLING) and time.monotonic() < deadline:
            time.sleep(interval)
        return self.result is not None

    def _addWarning(self, message: str) -> None:
        if not message or message in self.warnings:
            return
        self._appendLog(f"[warning] {message}")
        self.warnings = contrastFirst([*self.warnings, message])

    def _appendLog(self, text: str) -> None:
        self._log.append(text)
        self._logChars += len(text) + 1
        while self._logChars > MAX_LOG_CHARS and len(self._log) > 1:
            self._logChars -= len(self._log.pop(0)) + 1
        if self.onLog:
            self.onLog(text)

    def _finish(self) -> None:
        code = self.process.returncode
        if self.status is JobStatus.CANCELLING:
            status, message = JobStatus.CANCELLED, f"{self.title} was cancelled"
        elif code == 0 and not self.progress.failed:
            status, message = JobStatus.SUCCEEDED, ""
        else:
            status, message = JobStatus.FAILED, self._errorMessage(code)
        self.status = status
        self.result = JobResult(status, code, message, self.progress.finalEvent, self.log, list(self.warnings))
        if self.onFinished:
            self.onFinished(self.result)

    def _errorMessage(self, code: int | None) -> str:
        """The worker's own one-line message when it gave one; else, for a worker killed by a signal (the kernel's
        out-of-memory killer sends 9), that signal, with the last stderr line as context only (it is often a
        harmless warning printed long before); else the last stderr line, else the exit code."""
        final = self.progress.finalEvent
        if self.progress.failed and final is not None and final.get("message"):
            return str(final["message"])
        signalNumber = -code if code is not None and code < 0 else (code - 128 if code in (137, 143) else None)
        if signalNumber is not None:
            hint = " (out of memory? SIGKILL is what the system sends then)" if signalNumber == 9 else ""
            last = f"; its last message: {self._stderrTail[-1]}" if self._stderrTail else ""
            return f"{self.title} was killed by signal {signalNumber}{hint}{last}"
        for line in reversed(self._stderrTail):
            if "error" in line.lower():
                return line
        if self._stderrTail:
            return self._stderrTail[-1]
        return f"{self.title} failed with exit code {code} and no message"
