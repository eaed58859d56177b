"""Every transition of the panel's run state machine (RunController), with real worker processes.

The success paths run the real ``iexplain detect`` worker on a tiny classifier (about 10 s); stand-in workers are
used only where they make a failure or a timing deterministic: a worker that sleeps (cancel, scene close, quit),
one that hangs with a child process (quit must kill the tree), and one that succeeds at once (a scene closed after
the worker ended).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from IExplainSlicerLib.commands import DetectSettings
from IExplainSlicerLib.detection import DetectionResults, startDetectionRun
from IExplainSlicerLib.job import Job, JobStatus
from IExplainSlicerLib.process import BackgroundProcess
from IExplainSlicerLib.run_controller import RunController, RunKind, RunState
from IExplainSlicerLib.segments import iterationSegmentIds
from IExplainSlicerLib.volumes import loadVolumeFile
from IExplainSlicerLib.worker import WorkerLauncher

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def fake_launcher(sleep: float = 0.0) -> WorkerLauncher:
    launcher = WorkerLauncher(libraryRoot=REPO, cliModule="fake_detect_worker", extraPythonPath=[str(HERE)])
    if sleep:
        launcher.processFactory = lambda args, env, cwd: BackgroundProcess([*args, "--sleep", str(sleep)], env=env,
                                                                           cwd=cwd)
    return launcher


def stand_in_model(tmp_path) -> str:
    path = tmp_path / "stand-in.safetensors"
    path.write_bytes(b"the stand-in worker does not read it")
    return str(path)


class Recorder:
    """A controller whose state changes are recorded, as the widget would show them."""

    def __init__(self):
        self.states: list[RunState] = []
        self.progress: list[int] = []
        self.controller = RunController(onStateChanged=self.states.append,
                                        onProgress=lambda state, overall: self.progress.append(overall.percent()))

    def detect(self, scene, ct, settings, launcher, results_root):
        return self.controller.start(RunKind.DETECTION, lambda: startDetectionRun(ct, settings, launcher, results_root),
                                     lambda run: run.finish(scene))

    def poll_until_done(self, timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcome = self.controller.poll()
            if outcome is not None:
                return outcome
            time.sleep(0.05)
        raise AssertionError(f"no outcome within {timeout} s; state {self.controller.state}")


def live_members(group: int) -> list[int]:
    """Processes of a process group that are still running (zombies do not count), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def start_stand_in_detection(scene, tmp_path, ct_file, sleep: float = 30.0, first_event: bool = True):
    """A detection on the stand-in worker that sleeps ``sleep`` s per iteration (cancel and close deterministic)."""
    recorder = Recorder()
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(classifierModel=stand_in_model(tmp_path), device="cpu")
    run = recorder.detect(scene, ct, settings, fake_launcher(sleep=sleep), tmp_path / "results")
    if first_event:
        wait_for_first_event(run.job)
    return recorder, run


def wait_for_first_event(job, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while job.progress.events == 0 and time.monotonic() < deadline:
        job.poll()
        time.sleep(0.02)
    assert job.progress.events, "the worker never reported progress"


def test_idle_to_running_to_finished_with_the_real_worker(scene, tmp_path, ct_file, fast_settings, real_launcher):
    recorder = Recorder()
    controller = recorder.controller
    assert controller.state is RunState.IDLE and not controller.busy
    ct = loadVolumeFile(scene, ct_file)
    run = recorder.detect(scene, ct, fast_settings, real_launcher, tmp_path / "results")
    assert controller.state is RunState.RUNNING and controller.busy and run.ctPath.exists()
    with pytest.raises(RuntimeError, match="still running"):
        recorder.detect(scene, ct, fast_settings, real_launcher, tmp_path / "results")
    outcome = recorder.poll_until_done()

    assert recorder.states == [RunState.RUNNING, RunState.FINISHED]
    assert outcome.state is RunState.FINISHED and outcome.kind is RunKind.DETECTION
    assert isinstance(outcome.value, DetectionResults)
    assert [k for k, _ in iterationSegmentIds(outcome.value.segmentationNode)] == [1, 2]
    assert recorder.progress and recorder.progress == sorted(recorder.progress), "overall progress never goes back"
    assert controller.overall.fraction == 1.0
    assert not run.workFolder.exists(), "the temporary CT copy is removed"
    assert controller.poll() is None, "the outcome is reported once"


def test_running_to_cancelling_to_cancelled_without_blocking(scene, tmp_path, ct_file):
    recorder, run = start_stand_in_detection(scene, tmp_path, ct_file)
    started = time.monotonic()
    assert recorder.controller.cancel()
    assert time.monotonic() - started < 0.5, "Cancel must return at once (it blocked the GUI up to 8 s)"
    assert recorder.controller.state is RunState.CANCELLING
    assert not recorder.controller.cancel(), "a second Cancel changes nothing"
    outcome = recorder.poll_until_done(30)
    assert recorder.states == [RunState.RUNNING, RunState.CANCELLING, RunState.CANCELLED]
    assert outcome.state is RunState.CANCELLED and outcome.message == "Cancelled."
    assert run.job.result is not None and run.job.result.status is JobStatus.CANCELLED
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0
    assert not run.workFolder.exists()


def test_cancel_during_start_up(scene, tmp_path, ct_file):
    """Cancel pressed before the worker printed anything (it is still importing): it still ends, cleanly."""
    recorder, run = start_stand_in_detection(scene, tmp_path, ct_file, first_event=False)
    assert run.job.progress.events == 0
    assert recorder.controller.cancel()
    outcome = recorder.poll_until_done(30)
    assert outcome.state is RunState.CANCELLED and not run.workFolder.exists()
    assert not run.job.process.isRunning()


def test_cancel_after_the_worker_ended_keeps_its_result(scene, tmp_path, ct_file, fast_settings, real_launcher):
    recorder = Recorder()
    ct = loadVolumeFile(scene, ct_file)
    run = recorder.detect(scene, ct, fast_settings, real_launcher, tmp_path / "results")
    assert run.job.process.wait(120) == 0  # the worker is done, the panel has not polled yet
    assert not recorder.controller.cancel(), "nothing left to stop"
    assert recorder.controller.state is RunState.RUNNING
    outcome = recorder.poll_until_done()
    assert outcome.state is RunState.FINISHED
    assert outcome.value.segmentationNode.GetSegmentation().GetNumberOfSegments() == 2


def test_scene_closed_during_a_detection_cancels_it_and_imports_nothing(scene, tmp_path, ct_file):
    recorder, run = start_stand_in_detection(scene, tmp_path, ct_file)
    recorder.controller.sceneClosing()
    scene.Clear(0)
    assert recorder.controller.state is RunState.CANCELLING
    outcome = recorder.poll_until_done(30)
    assert outcome.state is RunState.CANCELLED and "scene was closed" in outcome.message
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0
    assert not run.workFolder.exists()
    recorder.controller.sceneClosed()
    assert recorder.controller.state is RunState.IDLE and recorder.controller.outcome is None


def test_scene_closed_after_the_worker_succeeded_discards_its_output(scene, tmp_path, ct_file):
    recorder, run = start_stand_in_detection(scene, tmp_path, ct_file, sleep=0.0, first_event=False)
    assert run.job.process.wait(60) == 0
    recorder.controller.sceneClosing()
    scene.Clear(0)
    outcome = recorder.poll_until_done(30)
    assert outcome.state is RunState.CANCELLED and "scene was closed" in outcome.message
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0, "no result on the new scene"


def test_a_finetuning_survives_a_scene_close():
    controller = RunController()
    job = Job(BackgroundProcess([sys.executable, "-c", "import time; time.sleep(30)"]), "iexplain finetune")

    class Run:
        pass

    run = Run()
    run.job = job
    controller.start(RunKind.FINETUNE, lambda: (job.start(), run)[1], lambda r: "model")
    controller.sceneClosing()
    assert controller.state is RunState.RUNNING, "finetuning does not depend on the scene"
    controller.sceneClosed()
    assert controller.state is RunState.RUNNING
    assert controller.cancel()
    controller.shutdown(10)
    assert controller.state is RunState.CANCELLED and not job.process.isRunning()


def test_worker_failure_and_import_failure_end_failed(scene, tmp_path, ct_file, real_launcher):
    recorder = Recorder()
    ct = loadVolumeFile(scene, ct_file)
    not_a_model = DetectSettings(classifierModel=stand_in_model(tmp_path), device="cpu")
    run = recorder.detect(scene, ct, not_a_model, real_launcher, tmp_path / "results")
    outcome = recorder.poll_until_done()
    assert outcome.state is RunState.FAILED and "\n" not in outcome.message and "error" in outcome.message
    assert outcome.log and not run.workFolder.exists()

    # the worker succeeds but the CT was deleted meanwhile: a failed run, not a crash of the panel
    run = recorder.detect(scene, ct, not_a_model, fake_launcher(sleep=0.5), tmp_path / "results")
    scene.RemoveNode(ct)
    outcome = recorder.poll_until_done(60)
    assert outcome.state is RunState.FAILED and "removed from the scene" in outcome.message
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0 and not run.workFolder.exists()
    assert recorder.states[-1] is RunState.FAILED and not recorder.controller.busy


def test_a_run_that_cannot_start_ends_failed_and_leaves_nothing(scene, tmp_path, ct_file):
    recorder = Recorder()
    ct = loadVolumeFile(scene, ct_file)
    missing = DetectSettings(classifierModel=str(tmp_path / "missing.safetensors"))
    before = set(os.listdir(tempfile.gettempdir()))
    with pytest.raises(Exception, match="not found"):
        recorder.detect(scene, ct, missing, fake_launcher(), tmp_path / "results")
    assert recorder.controller.state is RunState.FAILED and not recorder.controller.busy
    assert "not found" in recorder.controller.outcome.message
    assert not {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("IExplain-")}


@pytest.mark.skipif(os.name == "nt", reason="process groups are POSIX; Windows uses taskkill /T")
def test_slicer_quitting_mid_run_kills_the_tree_and_removes_temporary_files(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    job = Job(BackgroundProcess([sys.executable, str(HERE / "fake_progress_worker.py"), "hang"], env=env),
              "iexplain detect")
    work = Path(tempfile.mkdtemp(prefix="IExplain-", dir=tmp_path))
    (work / "ct.nrrd").write_bytes(b"the temporary CT copy")

    class Run:  # a detection run as the controller sees it: a job and a temporary folder
        def __init__(self):
            self.job = job

        def cleanup(self):
            shutil.rmtree(work, ignore_errors=True)

    controller = RunController()
    controller.start(RunKind.DETECTION, lambda: (job.start(), Run())[1], lambda run: pytest.fail("no import"))
    deadline = time.monotonic() + 30
    while job.progress.stage != "spawned" and time.monotonic() < deadline:
        controller.poll()
        time.sleep(0.05)
    assert job.progress.stage == "spawned", "the worker never reported its child"
    group = job.process.pid
    assert len(live_members(group)) == 2, "the worker and its child run"
    started = time.monotonic()
    outcome = controller.shutdown(timeout=5)
    assert time.monotonic() - started < 5
    assert outcome.state is RunState.CANCELLED and "Slicer was closed" in outcome.message
    assert controller.state is RunState.CANCELLED and not job.process.isRunning()
    assert not work.exists(), "the temporary CT copy is removed when Slicer quits"
    deadline = time.monotonic() + 5
    while live_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live_members(group), "a process of the worker's tree survived"
    assert controller.shutdown() is None, "nothing left to stop"
