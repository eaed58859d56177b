"""The background worker runner and the progress protocol, with real subprocesses (cancel included)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from IExplainSlicerLib.job import Job, JobStatus
from IExplainSlicerLib.process import STDOUT, BackgroundProcess, OutputLine
from IExplainSlicerLib.progress_tracker import ProgressState, parseEvent
from IExplainSlicerLib.worker import WorkerLauncher, slicerWorkerLauncher

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def fake_worker(mode: str) -> Job:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return Job(BackgroundProcess([sys.executable, str(HERE / "fake_progress_worker.py"), mode], env=env),
               title="fake worker")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of a live parent stays a zombie until reaped; a zombie is not running.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_progress_events_drive_the_state_and_the_job_succeeds():
    seen = []
    job = fake_worker("ok")
    job.onProgress = lambda state: seen.append((state.stage, state.percent(), state.iteration, state.slice))
    result = job.runToCompletion(timeout=60)
    assert result.status is JobStatus.SUCCEEDED and result.returncode == 0
    assert seen[:3] == [("explain", 33, 1, 10), ("explain", 67, 1, 11), ("explain", 100, 1, 12)]
    assert seen[-1][0] == "done" and result.finalEvent["iterations"] == 3
    assert "worker starting (a plain log line)" in result.log  # stderr goes to the log, not to the progress


def test_error_event_gives_the_workers_one_line_message():
    result = fake_worker("fail").runToCompletion(timeout=60)
    assert result.status is JobStatus.FAILED and result.returncode == 2
    assert result.errorMessage == "classifier model.safetensors does not match the checksum in its card"


def test_crash_without_error_event_reports_the_last_stderr_line():
    result = fake_worker("crash").runToCompletion(timeout=60)
    assert result.status is JobStatus.FAILED and result.returncode == 1
    assert "CUDA out of memory" in result.errorMessage


@pytest.mark.skipif(os.name == "nt", reason="process groups are POSIX; Windows uses taskkill /T")
def test_cancel_kills_the_whole_process_tree():
    job = fake_worker("hang")
    job.start()
    deadline = time.monotonic() + 30
    spawned = None
    while spawned is None and time.monotonic() < deadline:
        for line in job.process.readLines():
            event = parseEvent(line.text)
            if event and event["stage"] == "spawned":
                spawned = event
        time.sleep(0.05)
    assert spawned, "the worker never reported its child"
    assert alive(spawned["child_pid"]) and alive(spawned["worker_pid"])
    started = time.monotonic()
    assert job.cancel()
    assert time.monotonic() - started < 0.5, "cancel returns at once: the GUI thread never waits for the worker"
    statuses = set()
    deadline = time.monotonic() + 10
    while job.result is None and time.monotonic() < deadline:
        status = job.poll()
        statuses.add(status)
        assert status is not JobStatus.CANCELLED or job.result is not None, "CANCELLED only with a result"
        time.sleep(0.02)
    assert statuses <= {JobStatus.CANCELLING, JobStatus.CANCELLED} and job.status is JobStatus.CANCELLED
    deadline = time.monotonic() + 5
    while alive(spawned["child_pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(spawned["worker_pid"])
    assert not alive(spawned["child_pid"]), "the worker's child survived the cancel"
    assert job.result.status is JobStatus.CANCELLED and "cancelled" in job.result.errorMessage


def test_cancel_after_the_process_ended_changes_nothing():
    job = fake_worker("ok")
    job.start()
    assert job.process.wait(60) == 0
    assert not job.cancel(), "nothing to stop"
    assert job.runToCompletion(timeout=60).status is JobStatus.SUCCEEDED


def test_sigterm_ignoring_worker_is_killed_after_the_grace_period():
    ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    job = Job(BackgroundProcess([sys.executable, "-c", ignores], terminateGraceSeconds=0.5), title="stubborn")
    job.start()
    while not job.log:
        job.poll()
        time.sleep(0.02)
    assert job.cancel()
    time.sleep(0.2)
    assert job.poll() is JobStatus.CANCELLING and job.process.isRunning(), "SIGTERM was ignored"
    assert job.drain(10) and job.result.status is JobStatus.CANCELLED, "SIGKILL after the grace period"


def test_real_iexplain_info_through_the_launcher(ct_file):
    launcher = WorkerLauncher(libraryRoot=REPO)
    result = launcher.job(["info", str(ct_file), "--json"], "iexplain info").runToCompletion(timeout=120)
    assert result.succeeded, result.log
    assert json.loads(result.log[result.log.index("{"):])["size_xyz"] == [20, 24, 12]


def test_real_iexplain_error_is_one_line(tmp_path):
    launcher = WorkerLauncher(libraryRoot=REPO)
    result = launcher.job(["info", str(tmp_path / "missing.nrrd")], "iexplain info").runToCompletion(timeout=120)
    assert result.status is JobStatus.FAILED and result.returncode == 2
    assert result.errorMessage.startswith("iexplain info: error:") and "missing.nrrd" in result.errorMessage


def test_launcher_environment_forces_cpu_and_finds_the_library():
    launcher = WorkerLauncher(libraryRoot=REPO, python="/opt/PythonSlicer", environment={"PYTHONPATH": "/x"})
    env = launcher.environmentFor("cpu")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO), "/x"]
    assert env["CUDA_VISIBLE_DEVICES"] == "-1" and env["PYTHONUNBUFFERED"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in launcher.environmentFor("auto")
    assert launcher.command(["detect", "a b.nrrd"]) == ["/opt/PythonSlicer", "-m", "IExplainLib.cli.main", "detect",
                                                         "a b.nrrd"]


def test_slicer_launcher_runs_pythonslicer_in_slicers_startup_environment(ct_file):
    started = []

    def recording_factory(args, env, cwd):
        started.append(args)
        return BackgroundProcess(args, env=env, cwd=cwd)

    startup = dict(os.environ, IEXPLAIN_STARTUP_MARKER="1")
    launcher = slicerWorkerLauncher(sys.executable, lambda: startup, recording_factory)  # this Python as PythonSlicer
    assert launcher.libraryRoot == REPO and launcher.python == sys.executable
    assert launcher.environmentFor()["IEXPLAIN_STARTUP_MARKER"] == "1"
    result = launcher.job(["info", str(ct_file), "--json"], "iexplain info").runToCompletion(timeout=120)
    assert result.succeeded, result.log
    assert started == [[sys.executable, "-m", "IExplainLib.cli.main", "info", str(ct_file), "--json"]]


def test_without_pythonslicer_the_worker_uses_this_python_and_environment():
    launcher = slicerWorkerLauncher(None, lambda: pytest.fail("no startup environment without PythonSlicer"))
    assert launcher.python == sys.executable and launcher.environment is None
    assert launcher.processFactory is WorkerLauncher.processFactory  # the real background process


def test_progress_state_text_and_parse_rules():
    assert parseEvent("Traceback (most recent call last):") is None
    assert parseEvent('{"v": 1, "fraction": 0.5}') is None  # no stage: not an event
    assert parseEvent('{"v": 1, "stage": "explain", "fraction": 0.') is None  # half a line
    state = ProgressState()
    state.update(parseEvent('{"v": 1, "stage": "explain", "fraction": 0.25, "iteration": 2, "slice": 41}'))
    assert state.text() == "Explaining: iteration 2, slice 41 (25%)"
    state.update({"v": 1, "stage": "write", "fraction": None})
    assert state.percent() is None and state.iteration is None and state.text() == "Writing results"
    state.update({"v": 1, "stage": "error", "fraction": None, "message": "bad input"})
    assert state.failed and state.finished and state.stagesSeen == ["explain", "write", "error"]


def test_an_out_of_memory_kill_reads_killed_by_signal_9_not_the_last_warning():
    """Issue 26, fault 9: the message was the last stderr line, often a harmless warning printed long before."""
    script = ("import os, signal, sys; print('UserWarning: TypedStorage is deprecated', file=sys.stderr, flush=True);"
              " os.kill(os.getpid(), signal.SIGKILL)")
    job = Job(BackgroundProcess([sys.executable, "-c", script]), title="iexplain detect")
    result = job.runToCompletion(timeout=30)
    assert result.status is JobStatus.FAILED and result.returncode == -9
    assert result.errorMessage.startswith("iexplain detect was killed by signal 9 (out of memory?"), result.errorMessage
    assert result.errorMessage.endswith("its last message: UserWarning: TypedStorage is deprecated")


class LastLineRace:
    """The race of fault 9, made deterministic: the reader threads queue the worker's last line (its "done" event)
    and end between the job's read and its question "is the output complete?". Everything else is a real Job."""

    def __init__(self):
        self.queued = [OutputLine(STDOUT, json.dumps({"stage": "explain", "fraction": 0.5}))]
        self.returncode = 0

    def start(self) -> None:
        pass

    def readLines(self):
        lines, self.queued = self.queued, []
        return lines

    def isRunning(self) -> bool:
        return False

    def outputComplete(self) -> bool:
        self.queued.append(OutputLine(STDOUT, json.dumps({"stage": "done", "fraction": 1.0, "message": "3 found"})))
        return True

    def cancel(self) -> bool:
        return False

    def kill(self) -> None:
        pass


def test_the_last_worker_line_is_never_lost():
    job = Job(LastLineRace(), title="iexplain detect")
    result = job.runToCompletion(timeout=5)
    assert result.succeeded and result.finalEvent == {"stage": "done", "fraction": 1.0, "message": "3 found"}
    assert "[done] 3 found" in result.log


def test_worker_warnings_are_collected_contrast_first():
    lines = [OutputLine(STDOUT, json.dumps({"stage": "warning", "message": "slice spacing is 5 mm"})),
             OutputLine(STDOUT, json.dumps({"stage": "warning", "message": "this CT does not look like a CT "
                                                                            "angiogram"})),
             OutputLine(STDOUT, json.dumps({"stage": "done", "fraction": 1.0}))]

    class Finished(LastLineRace):
        def __init__(self):
            super().__init__()
            self.queued = list(lines)

        def outputComplete(self) -> bool:
            return True

    result = Job(Finished(), title="iexplain detect").runToCompletion(timeout=5)
    assert result.warnings == ["this CT does not look like a CT angiogram", "slice spacing is 5 mm"]
    assert "[warning] slice spacing is 5 mm" in result.log
