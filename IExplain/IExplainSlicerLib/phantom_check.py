"""The module's self-test on a synthetic CTPA phantom: detect, check the nodes, export, check the dataset.

Two levels. :func:`checkResultsAndExport` (the default self-test, seconds, no install, no worker) imports the
phantom's truth as if it were a detection and checks segments, findings and export on Slicer's own nodes.
:func:`checkPhantomDetectionAndExport` (opt-in, ``IEXPLAIN_FULL_SELF_TEST=1``) runs the real ``iexplain detect``
worker; ``FAST_DETECT`` settings keep it to about a minute on a CPU. :func:`checkCandidatesDetection` (also opt-in)
runs the candidates method with a reducer (the bundled one in Slicer). pytest runs them all on ``slicer-core``.
"""

from __future__ import annotations

import json
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import slicer
import vtk

from IExplainLib.findings import score_text

from .commands import DetectSettings
from .detection import DetectionResults
from .export import ExportResult
from .segments import EMBOLUS_TERMINOLOGY, iterationSegmentIds
from .volumes import loadVolumeFile, sameGeometry

# IG steps, references, SmoothGrad samples, iterations: enough to run every stage, quick on a CPU
FAST_DETECT = {"igSteps": 2, "igReferences": 1, "smoothGradSamples": 1, "maxIterations": 2}

Detect = Callable[[object, DetectSettings], DetectionResults]
Export = Callable[[object, object, Path, str], ExportResult]


def checkPhantomDetectionAndExport(test: unittest.TestCase, scene, classifierPath: str | Path, detect: Detect,
                                   exportCase: Export, folder: Path,
                                   announce: Callable[[str], None] = print, fast: bool = True) -> None:
    from IExplainLib.io import write_volume
    from IExplainLib.phantoms import make_study

    announce("Making a small phantom study")
    study = make_study(seed=3, slices=48, size=128, n_emboli=2)
    ctPath = write_volume(folder / "phantom.nrrd", study.volume)
    ctNode = loadVolumeFile(scene, ctPath, "phantom")

    announce("Running iexplain detect in a worker process")
    settings = DetectSettings(method="iexplain", classifierModel=str(classifierPath), device="cpu",
                              advanced=dict(FAST_DETECT) if fast else {})
    results = detect(ctNode, settings)
    _checkResults(test, results, ctNode, study.volume.array.shape)
    _checkExport(test, scene, exportCase, results, ctNode, folder)


def checkCandidatesDetection(test: unittest.TestCase, scene, reducerPath: str | Path, detect: Detect, folder: Path,
                             announce: Callable[[str], None] = print) -> DetectionResults:
    """The candidates method in a worker: every candidate a segment ``PE k (calibre, score)``, best score first, each
    with its score and calibre; those below the reducer card's threshold hidden, the others shown."""
    from IExplainLib.io import write_volume
    from IExplainLib.phantoms import make_study

    from .score_threshold import cardThreshold, scoreThreshold
    from .segments import segmentCalibre, segmentScore

    announce("Making a small phantom study")
    study = make_study(seed=3, slices=32, size=128, n_emboli=2)
    ctNode = loadVolumeFile(scene, write_volume(folder / "phantom-candidates.nrrd", study.volume), "phantom")
    announce("Running iexplain detect --method candidates in a worker process")
    results = detect(ctNode, DetectSettings(method="candidates", reducerModel=str(reducerPath), device="cpu"))
    segmentationNode: Any = results.segmentationNode
    tableNode: Any = results.tableNode
    segmentation = segmentationNode.GetSegmentation()
    threshold = cardThreshold(reducerPath)
    test.assertEqual(scoreThreshold(segmentationNode), threshold)
    test.assertTrue(segmentation.GetNumberOfSegments() > 0, "the phantom's emboli give candidates")
    test.assertEqual(tableNode.GetNumberOfRows(), segmentation.GetNumberOfSegments())
    displayNode = segmentationNode.GetDisplayNode()
    scores: list[float] = []
    for rank, (iteration, segmentId) in enumerate(iterationSegmentIds(segmentationNode), start=1):
        segment = segmentation.GetSegment(segmentId)
        score, calibre = segmentScore(segment), segmentCalibre(segment)
        if score is None:
            test.fail(f"{segment.GetName()} carries no score")
            return results
        test.assertEqual(iteration, rank)
        test.assertIn(calibre, ("central", "lobar", "segmental", "subsegmental"))
        test.assertEqual(segment.GetName(), f"PE {rank} ({calibre}, {score_text(score)})")
        test.assertEqual(bool(displayNode.GetSegmentVisibility(segmentId)), score >= threshold)
        scores.append(score)
    test.assertEqual(scores, sorted(scores, reverse=True), "finding 1 has the highest score")
    return results


def checkResultsAndExport(test: unittest.TestCase, scene, exportCase: Export, folder: Path,
                          announce: Callable[[str], None] = print) -> None:
    """The short self-test: the phantom's truth imported as a two-iteration result, findings, review, export."""
    from IExplainLib.io import iteration_segments, write_heatmap, write_segmentation, write_volume
    from IExplainLib.phantoms import make_study

    from .findings_table import FindingsModel
    from .heatmap import loadHeatmap
    from .segments import loadDetectionSegmentation

    announce("Making a small phantom study")
    study = make_study(seed=3, slices=32, size=96, n_emboli=2)
    ctNode = loadVolumeFile(scene, write_volume(folder / "phantom.nrrd", study.volume), "phantom")
    announce("Importing its truth as a detection result")
    labels = np.minimum(study.truth, 2).astype(np.uint8)  # emboli 1 and 2.. as iterations 1 and 2
    iterations = int(labels.max())
    segmentationNode = loadDetectionSegmentation(scene, write_segmentation(
        folder / "truth.seg.nrrd", study.volume.with_array(labels), iteration_segments(iterations)), ctNode)
    heat = (labels > 0).astype(np.float32) * np.linspace(0.2, 1.0, labels.size, dtype=np.float32).reshape(labels.shape)
    heatmapNode = loadHeatmap(scene, write_heatmap(folder / "heat.nrrd", study.volume.with_array(heat)), ctNode)
    tableNode = scene.AddNewNodeByClass("vtkMRMLTableNode", "phantom PE findings")
    model = FindingsModel(segmentationNode, ctNode, heatmapNode, tableNode)
    findings = model.refresh()
    test.assertEqual([f.voxels for f in findings], [int((labels == k).sum()) for k in range(1, iterations + 1)])
    test.assertTrue(all(f.peakAttribution and f.peakAttribution > 0 for f in findings if f.voxels))
    results = DetectionResults(segmentationNode, heatmapNode, tableNode, findings)
    _checkResults(test, results, ctNode, study.volume.array.shape)
    for finding in findings:
        model.setReview(finding.segmentId, "completed")
    announce("Exporting for finetuning")
    exported = _checkExport(test, scene, exportCase, results, ctNode, folder)
    label = slicer.util.arrayFromVolume(loadVolumeFile(scene, exported.paths.label, labelmap=True))
    test.assertEqual(int(label.sum()), int((labels > 0).sum()))


def _checkResults(test, results: DetectionResults, ctNode, shape) -> None:

    segmentation = results.segmentationNode.GetSegmentation()
    iterations = iterationSegmentIds(results.segmentationNode)
    test.assertEqual(len(iterations), segmentation.GetNumberOfSegments())
    for iteration, segmentId in iterations:
        segment = segmentation.GetSegment(segmentId)
        test.assertEqual(segment.GetName(), f"PE iteration {iteration}")
        tag = vtk.reference("")
        test.assertTrue(segment.GetTag(segment.GetTerminologyEntryTagName(), tag))
        test.assertEqual(str(tag), EMBOLUS_TERMINOLOGY)
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(results.segmentationNode, segmentId, ctNode)
        test.assertEqual(mask.shape, shape)
    if results.heatmapNode is not None:
        test.assertTrue(sameGeometry(results.heatmapNode, ctNode))
    test.assertEqual(results.tableNode.GetNumberOfRows(), len(iterations))


def _checkExport(test, scene, exportCase: Export, results: DetectionResults, ctNode, folder: Path) -> ExportResult:
    exported = exportCase(results.segmentationNode, ctNode, folder / "dataset", "phantom")
    index = json.loads((folder / "dataset" / "dataset.json").read_text())
    test.assertEqual([case["id"] for case in index["cases"]], [exported.caseId])
    labelNode = loadVolumeFile(scene, exported.paths.label, labelmap=True)
    test.assertTrue(sameGeometry(labelNode, ctNode))
    test.assertTrue(set(np.unique(slicer.util.arrayFromVolume(labelNode))) <= {0, 1})
    return exported
