"""A worker process that runs in the background and can be stopped, whole tree included.

Pure Python (no Qt, no slicer): Slicer polls :meth:`BackgroundProcess.readLines` from a ``qt.QTimer`` so the GUI
never blocks (SlicerTotalSegmentator#10 is the complaint this answers); tests poll it in a loop.

Why a process *tree*: on Slicer the command starts with the ``PythonSlicer`` launcher, which starts the real Python,
which may start DataLoader workers. Killing only the launcher leaves the others running on the GPU. On POSIX the
worker gets its own session (``start_new_session``) and :meth:`cancel` signals the whole process group; on Windows
``taskkill /T`` does the same.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

STDOUT = "stdout"
STDERR = "stderr"


@dataclass(frozen=True)
class OutputLine:
    """One line of the worker's output; ``stream`` is ``"stdout"`` (progress events) or ``"stderr"`` (log, errors)."""

    stream: str
    text: str


class ProcessProtocol(Protocol):
    """What the logic needs from a worker process; tests and other runners (a remote one) implement the same."""

    def start(self) -> None: ...

    def readLines(self) -> list[OutputLine]: ...

    def isRunning(self) -> bool: ...

    def cancel(self) -> bool: ...

    def kill(self) -> None: ...

    @property
    def returncode(self) -> int | None: ...


class BackgroundProcess:
    """``subprocess.Popen`` with non-blocking line reading (two reader threads) and process-tree cancel.

    >>> proc = BackgroundProcess([sys.executable, "-c", "print('hi')"])
    >>> proc.start(); proc.wait(10)
    0
    >>> proc.readLines()
    [OutputLine(stream='stdout', text='hi')]
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
                 terminateGraceSeconds: float = 3.0):
        self.args = [str(a) for a in args]
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.terminateGraceSeconds = terminateGraceSeconds
        self.cancelled = False
        self._popen: subprocess.Popen | None = None
        self._lines: queue.Queue[OutputLine] = queue.Queue()
        self._readers: list[threading.Thread] = []
        self._killDeadline: float | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError("process already started")
        kwargs: dict = {}
        if sys.platform == "win32":  # os.name == "nt", written as type checkers read it
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True
        self._popen = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
            cwd=self.cwd, text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs)
        for stream, name in ((self._popen.stdout, STDOUT), (self._popen.stderr, STDERR)):
            reader = threading.Thread(target=self._pump, args=(stream, name), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _pump(self, stream, name: str) -> None:
        for line in iter(stream.readline, ""):
            self._lines.put(OutputLine(name, line.rstrip("\r\n")))
        stream.close()

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def isRunning(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def outputComplete(self) -> bool:
        """True once the process has ended and both pipes are read to the end."""
        self.escalate()
        return not self.isRunning() and all(not reader.is_alive() for reader in self._readers)

    def readLines(self) -> list[OutputLine]:
        """Every line that arrived since the last call (never blocks)."""
        lines = []
        while True:
            try:
                lines.append(self._lines.get_nowait())
            except queue.Empty:
                return lines

    def wait(self, timeout: float | None = None) -> int:
        """Block until the process ends and its output is read (only for scripts and tests, never in the GUI)."""
        if self._popen is None:
            raise RuntimeError("process not started")
        code = self._popen.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    # -- stopping ---------------------------------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Ask the process tree to stop and return at once (the GUI thread never waits here).

        POSIX: SIGTERM to the process group now; :meth:`escalate` (called by every poll) sends SIGKILL to the group
        once the leader has exited or the grace period has passed, so no child is left on the GPU. Windows:
        ``taskkill /F /T`` ends the tree. Returns False when the process had already ended (nothing to stop).
        """
        if self._popen is None or self._popen.poll() is not None:
            return False
        self.cancelled = True
        if sys.platform == "win32":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(self._popen.pid)], capture_output=True, check=False)
            return True
        self._signalGroup(signal.SIGTERM)
        self._killDeadline = time.monotonic() + self.terminateGraceSeconds
        return True

    def escalate(self) -> None:
        """After :meth:`cancel`: SIGKILL the group when the leader has gone or the grace period is over."""
        if self._killDeadline is None or self._popen is None or sys.platform == "win32":
            return
        if self._popen.poll() is not None or time.monotonic() >= self._killDeadline:
            self._signalGroup(signal.SIGKILL)
            self._killDeadline = None

    def kill(self) -> None:
        """Stop the whole tree now (Slicer is quitting: no grace period, no waiting)."""
        if self._popen is None:
            return
        self.cancelled = self.cancelled or self._popen.poll() is None
        if sys.platform == "win32":
            if self._popen.poll() is None:
                subprocess.run(["taskkill", "/F", "/T", "/PID", str(self._popen.pid)], capture_output=True,
                               check=False)
            return
        self._killDeadline = None
        self._signalGroup(signal.SIGKILL)

    def _signalGroup(self, signum: int) -> None:
        if self._popen is None:
            return
        try:
            os.killpg(self._popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def pythonCommand(module: str, args: Sequence[str], python: str | None = None) -> list[str]:
    """``[python, -m, module, *args]``; ``python`` defaults to this interpreter (Slicer passes ``PythonSlicer``)."""
    return [python or sys.executable, "-m", module, *[str(a) for a in args]]
