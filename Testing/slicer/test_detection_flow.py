"""Apply's path without the GUI: CT node -> temporary file -> the real worker -> nodes; cancel cleans up.

Success is asserted only with the real ``iexplain detect``; the stand-in worker only makes a cancel deterministic."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

import numpy as np
import pytest
import slicer

from IExplainLib.errors import IExplainError
from IExplainSlicerLib.commands import DetectSettings
from IExplainSlicerLib.detection import DetectionRun, startDetectionRun
from IExplainSlicerLib.export import exportForFinetuning
from IExplainSlicerLib.job import JobStatus
from IExplainSlicerLib.phantom_check import (checkCandidatesDetection, checkPhantomDetectionAndExport,
                                             checkResultsAndExport)
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


def test_real_worker_run_produces_segments_heatmap_and_table(scene, tmp_path, ct_file, ct_volume, fast_settings,
                                                            real_launcher):
    """Apply's success path with the real ``iexplain detect`` worker (tiny classifier, fast settings)."""
    from IExplainLib.io import read_segmentation, read_volume

    ct = loadVolumeFile(scene, ct_file)
    run = DetectionRun(ct, fast_settings, real_launcher, tmp_path / "results", workRoot=tmp_path)
    states = []
    job = run.start()
    job.onProgress = lambda state: states.append(state.text())
    assert run.ctPath.exists(), "the CT is written for the worker before it starts"
    results = run.runToCompletion(scene, timeout=300)

    assert not run.workFolder.exists(), "temporary files are removed"
    assert any(text.startswith("Explaining: iteration 2") for text in states), states
    kept = Path(results.segmentationNode.GetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE))
    assert kept.exists() and kept.parent.parent == tmp_path / "results"
    assert (kept.parent / "pe.findings.json").exists(), "the worker's findings are kept with its output"
    written, infos = read_segmentation(kept)  # what the worker wrote, read by slicerio, not by the module
    assert written.same_grid(ct_volume)
    value_of = {info.name: info.label_value for info in infos}
    heat = read_volume(kept.parent / "attribution.nrrd").array
    ids = iterationSegmentIds(results.segmentationNode)
    assert [k for k, _ in ids] == [1, 2]
    for (k, segment_id), finding in zip(ids, results.findings):
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(results.segmentationNode, segment_id, ct) > 0
        assert np.array_equal(mask, written.array == value_of[f"PE iteration {k}"]), f"iteration {k}: worker's voxels"
        assert finding.voxels == int(mask.sum())
        assert finding.peakAttribution == pytest.approx(float(heat[mask].max()) if mask.any() else None)
    assert sameGeometry(results.heatmapNode, ct)
    assert results.tableNode.GetNumberOfRows() == len(ids)
    assert json.loads(results.segmentationNode.GetAttribute(RUN_SETTINGS_ATTRIBUTE))["classifier"] == \
        fast_settings.classifierModel


def test_cancelled_run_leaves_no_temporary_files_and_no_nodes(scene, tmp_path, ct_file, model):
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model), device="cpu")
    slow = launcher()
    slow.processFactory = lambda args, env, cwd: BackgroundProcess([*args, "--sleep", "30"], env=env, cwd=cwd)
    run = DetectionRun(ct, settings, slow, tmp_path / "results", workRoot=tmp_path)
    job = run.start()
    while job.progress.events == 0:
        job.poll()
    assert job.cancel()
    assert job.status is JobStatus.CANCELLING and job.result is None
    assert job.drain(30) and job.result.status is JobStatus.CANCELLED
    run.cleanup()
    assert not run.workFolder.exists()
    assert not run.outputPath.exists(), "the worker was stopped before it wrote its output"


def test_failed_worker_raises_its_message_and_cleans_up(scene, tmp_path, ct_file, model):
    ct = loadVolumeFile(scene, ct_file)
    settings = DetectSettings(method="iexplain", classifierModel=str(model))
    real_cli = WorkerLauncher(libraryRoot=REPO)  # the real CLI; the "model" is not a safetensors file
    run = DetectionRun(ct, settings, real_cli, tmp_path / "results", workRoot=tmp_path)
    with pytest.raises(IExplainError) as raised:
        run.runToCompletion(scene, timeout=120)
    assert "\n" not in str(raised.value) and "error" in str(raised.value)
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


def test_the_modules_short_self_test_passes_on_slicer_core(scene, tmp_path):
    """Slicer's default IExplainTest: the phantom's truth as a result, findings, review, export (no worker)."""
    announced = []
    checkResultsAndExport(unittest.TestCase(), scene, exportForFinetuning, tmp_path, announced.append)
    assert announced == ["Making a small phantom study", "Importing its truth as a detection result",
                         "Exporting for finetuning"]
    assert (tmp_path / "dataset" / "labels" / "phantom.nrrd").exists()


def test_the_modules_full_self_test_passes_with_the_real_worker(scene, tmp_path, tiny_classifier, real_launcher):
    """The opt-in IExplainTest (IEXPLAIN_FULL_SELF_TEST=1) with the real worker; a tiny classifier keeps it short."""
    def detect(ctNode, settings):
        return DetectionRun(ctNode, settings, real_launcher, tmp_path / "results", workRoot=tmp_path).runToCompletion(
            scene, timeout=600)

    checkPhantomDetectionAndExport(unittest.TestCase(), scene, tiny_classifier, detect, exportForFinetuning, tmp_path,
                                   lambda _message: None)
    assert (tmp_path / "dataset" / "labels" / "phantom.nrrd").exists()


def test_the_full_self_tests_candidates_step_passes_with_the_bundled_reducer(scene, tmp_path, real_launcher):
    """The candidates part of the opt-in IExplainTest, as Slicer runs it: the bundled reducer of the registry."""
    from IExplainSlicerLib.model_registry import ModelRegistry, bundledModelFolders
    from IExplainSlicerLib.score_threshold import scoredSegments

    reducers = ModelRegistry(bundledModelFolders(REPO / "IExplain"), tmp_path / "user").models("reducer")
    if not reducers:
        pytest.skip("no bundled reducer yet (Resources/Models/demo-reducer)")

    def detect(ctNode, settings):
        return DetectionRun(ctNode, settings, real_launcher, tmp_path / "results", workRoot=tmp_path).runToCompletion(
            scene, timeout=600)

    results = checkCandidatesDetection(unittest.TestCase(), scene, reducers[0].weightsPath, detect, tmp_path,
                                       lambda _message: None)
    scores = [score for _id, score in scoredSegments(results.segmentationNode)]
    assert len(scores) == results.segmentationNode.GetSegmentation().GetNumberOfSegments(), "every segment scored"
    assert json.loads(results.segmentationNode.GetAttribute(RUN_SETTINGS_ATTRIBUTE))["reducer"] == str(
        reducers[0].weightsPath)
