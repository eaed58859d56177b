"""Apply's path without the GUI: CT node -> temporary file -> worker process -> nodes; cancel cleans up."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

import numpy as np
import pytest
import slicer
from slicer_test_data import iteration_labelmap

from IExplainLib.errors import IExplainError
from IExplainSlicerLib.commands import DetectSettings
from IExplainSlicerLib.detection import DetectionRun, startDetectionRun
from IExplainSlicerLib.export import exportForFinetuning
from IExplainSlicerLib.job import JobStatus
from IExplainSlicerLib.phantom_check import checkPhantomDetectionAndExport
from IExplainSlicerLib.process import BackgroundProcess
from IExplainSlicerLib.segments import ORIGINAL_OUTPUT_ATTRIBUTE, RUN_SETTINGS_ATTRIBUTE, iterationSegmentIds
from IExplainSlicerLib.volumes import loadVolumeFile, sameGeometry
from IExplainSlicerLib.worker import WorkerLauncher

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def model(tmp_path) -> Path:
    weights = tmp_path / "models" / "demo.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"stand-in: the fake worker does not load it")
    return weights


def launcher() -> WorkerLauncher:
    return WorkerLauncher(libraryRoot=REPO, cliModule="fake_detect_worker", extraPythonPath=[str(HERE)])


def test_detection_run_produces_segments_heatmap_and_table(scene, tmp_path, ct_file, ct_volume, model):
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model), device="cpu")
    run = DetectionRun(ct, settings, launcher(), tmp_path / "results", workRoot=tmp_path)
    states = []
    job = run.start()
    job.onProgress = lambda state: states.append(state.text())
    assert run.ctPath.exists(), "the CT is written for the worker before it starts"
    results = run.runToCompletion(scene, timeout=120)

    assert not run.workFolder.exists(), "temporary files are removed"
    assert "Explaining: iteration 2, slice 6 (67%)" in states
    labels = iteration_labelmap(ct_volume.shape)
    for k, segment_id in iterationSegmentIds(results.segmentationNode):
        assert np.array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(results.segmentationNode, segment_id, ct) > 0,
                              labels == k)
    assert sameGeometry(results.heatmapNode, ct)
    assert [f.peakAttribution for f in results.findings] == pytest.approx([0.5, 0.9, 0.5])
    assert results.tableNode.GetNumberOfRows() == 3
    kept = Path(results.segmentationNode.GetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE))
    assert kept.exists() and kept.parent.parent == tmp_path / "results"
    assert json.loads(results.segmentationNode.GetAttribute(RUN_SETTINGS_ATTRIBUTE))["classifier"] == str(model)


def test_cancelled_run_leaves_no_temporary_files_and_no_nodes(scene, tmp_path, ct_file, model):
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model), device="cpu")
    slow = launcher()
    slow.processFactory = lambda args, env, cwd: BackgroundProcess([*args, "--sleep", "30"], env=env, cwd=cwd)
    run = DetectionRun(ct, settings, slow, tmp_path / "results", workRoot=tmp_path)
    job = run.start()
    while job.progress.events == 0:
        job.poll()
    job.cancel()
    assert job.poll() is JobStatus.CANCELLED
    run.cleanup()
    assert not run.workFolder.exists()
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0


def test_failed_worker_raises_its_message_and_cleans_up(scene, tmp_path, ct_file, model):
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model))
    real_cli = WorkerLauncher(libraryRoot=REPO)  # the real CLI; the "model" is not a safetensors file
    run = DetectionRun(ct, settings, real_cli, tmp_path / "results", workRoot=tmp_path)
    with pytest.raises(IExplainError) as raised:
        run.runToCompletion(scene, timeout=120)
    assert "\n" not in str(raised.value) and "error" in str(raised.value)
    assert not run.workFolder.exists()


def test_started_run_finishes_into_nodes_and_removes_its_temporary_folder(scene, tmp_path, ct_file, model):
    """Apply's path: the widget starts the run, polls its job, then finishes it."""
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model), device="cpu")
    run = startDetectionRun(ct, settings, launcher(), tmp_path / "results")
    assert run.job.status is JobStatus.RUNNING
    assert run.job.runToCompletion(timeout=120).succeeded
    results = run.finish(scene)
    assert [k for k, _ in iterationSegmentIds(results.segmentationNode)] == [1, 2, 3]
    assert results.tableNode.GetNumberOfRows() == 3
    assert not run.workFolder.exists()


def test_finish_removes_the_temporary_folder_when_the_import_fails(scene, tmp_path, ct_file, model):
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model))
    run = startDetectionRun(ct, settings, WorkerLauncher(libraryRoot=REPO), tmp_path / "results")
    assert not run.job.runToCompletion(timeout=120).succeeded  # the "model" is not a safetensors file
    with pytest.raises(IExplainError, match="wrote no segmentation"):
        run.finish(scene)
    assert not run.workFolder.exists()
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0


def test_the_modules_self_test_checks_pass_on_the_stand_in_worker(scene, tmp_path):
    """Slicer's IExplainTest runs these checks with the real worker (minutes on CPU); here the worker is a stand-in."""
    from IExplainLib.modelfile import bundled_model

    def detect(ctNode, settings):
        return DetectionRun(ctNode, settings, launcher(), tmp_path / "results", workRoot=tmp_path).runToCompletion(
            scene, timeout=120)

    announced = []
    checkPhantomDetectionAndExport(unittest.TestCase(), scene, bundled_model("demo-classifier"), detect,
                                   exportForFinetuning, tmp_path, announced.append)
    assert announced == ["Making a small phantom study", "Running iexplain detect in a worker process",
                         "Exporting for finetuning"]
    assert (tmp_path / "dataset" / "labels" / "phantom.nrrd").exists()
