"""The module's self-test on a synthetic CTPA phantom: detect, check the nodes, export, check the dataset.

Detection and export are passed in, so Slicer's ``IExplainTest`` runs the real worker with the bundled classifier
while pytest (on ``slicer-core``, where a real detection on CPU takes minutes) runs a stand-in worker; the checks on
the segments, heat map, table and exported dataset are the same code in both.
"""

from __future__ import annotations

import json
import unittest
from collections.abc import Callable
from pathlib import Path

import numpy as np
import slicer
import vtk

from .commands import DetectSettings
from .detection import DetectionResults
from .export import ExportResult
from .segments import EMBOLUS_TERMINOLOGY, iterationSegmentIds
from .volumes import loadVolumeFile, sameGeometry

Detect = Callable[[object, DetectSettings], DetectionResults]
Export = Callable[[object, object, Path, str], ExportResult]


def checkPhantomDetectionAndExport(test: unittest.TestCase, scene, classifierPath: str | Path, detect: Detect,
                                   exportCase: Export, folder: Path,
                                   announce: Callable[[str], None] = print) -> None:
    from IExplainLib.io import write_volume
    from IExplainLib.phantoms import make_study

    announce("Making a small phantom study")
    study = make_study(seed=3, slices=48, size=128, n_emboli=2)
    ctPath = write_volume(folder / "phantom.nrrd", study.volume)
    ctNode = loadVolumeFile(scene, ctPath, "phantom")

    announce("Running iexplain detect in a worker process")
    settings = DetectSettings(method="iexplain", classifierModel=str(classifierPath), device="cpu")
    results = detect(ctNode, settings)

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
        test.assertEqual(mask.shape, study.volume.array.shape)
    if results.heatmapNode is not None:
        test.assertTrue(sameGeometry(results.heatmapNode, ctNode))
    test.assertEqual(results.tableNode.GetNumberOfRows(), len(iterations))

    announce("Exporting for finetuning")
    exported = exportCase(results.segmentationNode, ctNode, folder / "dataset", "phantom")
    index = json.loads((folder / "dataset" / "dataset.json").read_text())
    test.assertEqual([case["id"] for case in index["cases"]], [exported.caseId])
    labelNode = loadVolumeFile(scene, exported.paths.label, labelmap=True)
    test.assertTrue(sameGeometry(labelNode, ctNode))
    test.assertTrue(set(np.unique(slicer.util.arrayFromVolume(labelNode))) <= {0, 1})
