"""Fixtures for the Slicer module's tests: the real Slicer core libraries (PyPI ``slicer-core``) and test CTs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (str(HERE), str(REPO / "IExplain"), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture
def scene():
    """A fresh MRML scene with the converter rules and ``slicer.modules`` logic the module's code uses."""
    from mrml_scene import newScene

    return newScene()


@pytest.fixture
def ct_volume():
    from slicer_test_data import oblique_volume

    return oblique_volume()


@pytest.fixture
def ct_file(tmp_path, ct_volume) -> Path:
    from IExplainLib.io import write_volume

    return write_volume(tmp_path / "ct.nrrd", ct_volume)


@pytest.fixture
def reviewed(scene, tmp_path, ct_file, ct_volume):
    """A detection result where the radiologist accepted iteration 1, flagged 3, and added a missed embolus to 2."""
    import numpy as np
    import slicer
    from slicer_test_data import iteration_labelmap

    from IExplainLib.io import write_segmentation
    from IExplainSlicerLib.segments import iterationSegmentIds, loadDetectionSegmentation, setReviewStatus
    from IExplainSlicerLib.volumes import loadVolumeFile

    labels = iteration_labelmap(ct_volume.shape)
    original = write_segmentation(tmp_path / "run" / "pe.seg.nrrd", ct_volume.with_array(labels))
    ct = loadVolumeFile(scene, ct_file)
    seg = loadDetectionSegmentation(scene, original, ct)
    (_, first), (_, second), (_, third) = iterationSegmentIds(seg)
    corrected = labels == 2
    corrected[0, 0:2, 0:2] = True  # the correction
    slicer.util.updateSegmentBinaryLabelmapFromArray(corrected.astype(np.uint8), seg, second, ct)
    segments = seg.GetSegmentation()
    setReviewStatus(segments.GetSegment(first), "completed")
    setReviewStatus(segments.GetSegment(second), "completed")
    setReviewStatus(segments.GetSegment(third), "flagged")
    expected = (labels == 1) | corrected
    return ct, seg, original, expected, labels


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """A real (untrained, 32 px, 3 slices) classifier model file: the real worker explains every window with it."""
    from Testing.evaluation.tiny_model import save_tiny_classifier

    return save_tiny_classifier(tmp_path_factory.mktemp("tiny-model"), high_threshold=0.5)


@pytest.fixture
def fast_settings(tiny_classifier):
    """``iexplain detect`` settings that run every stage of the real worker in about 10 s on one CPU core."""
    from IExplainSlicerLib.commands import DetectSettings

    return DetectSettings(method="iexplain", classifierModel=str(tiny_classifier), device="cpu",
                          filterClusters=False,
                          advanced={"igSteps": 2, "igReferences": 1, "smoothGradSamples": 1, "maxIterations": 2})


@pytest.fixture
def real_launcher():
    """The real ``python -m IExplainLib.cli.main`` of this checkout (cwd and PYTHONPATH = the repository)."""
    from IExplainSlicerLib.worker import WorkerLauncher

    return WorkerLauncher(libraryRoot=REPO)
