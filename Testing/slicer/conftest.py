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


@pytest.fixture(scope="session")
def candidate_study(tmp_path_factory):
    """A small phantom CT angiogram with emboli (128 px, 32 slices: the candidate detector resolves them) on disk."""
    from IExplainLib.io import write_volume
    from IExplainLib.phantoms import make_study

    study = make_study(13, slices=32, size=128, negative=False)
    return study, write_volume(tmp_path_factory.mktemp("candidate-study") / "cta.nrrd", study.volume)


@pytest.fixture(scope="session")
def tiny_reducer(candidate_study, tmp_path_factory) -> Path:
    """A real false-positive reducer trained in seconds (features MLP, 3 epochs, slice labels of two phantoms), as
    Testing/candidates does. Its card's threshold is then set between two of its scores on ``candidate_study``
    (scored in-process by the library's detector), so that the card's threshold hides some candidates and shows
    others: what the panel's slider starts from."""
    import json

    import torch

    from IExplainLib.candidates.detector import CandidateDetector
    from IExplainLib.candidates.train import ReducerTrainConfig, train_reducer
    from IExplainLib.candidates.training_data import prepare_study
    from IExplainLib.phantoms import make_study

    positive, _path = candidate_study
    negative = make_study(15, slices=32, size=128, negative=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        studies = [prepare_study("p", positive.volume, positive.slice_labels),
                   prepare_study("n", negative.volume, negative.slice_labels)]
        weights = train_reducer(studies, ReducerTrainConfig("features-mlp", epochs=3),
                                tmp_path_factory.mktemp("tiny-reducer") / "tiny-reducer.safetensors", threshold=0.0)
        _candidates, scores = CandidateDetector(weights).score(positive.volume)
    finally:
        torch.set_num_threads(threads)
    ranked = sorted({round(float(s), 4) for s in scores})
    assert len(ranked) >= 4, "the tiny reducer must tell some candidates apart"
    middle = len(ranked) // 2
    card = weights.with_suffix(".json")
    document = json.loads(card.read_text(encoding="utf-8"))
    document["threshold"] = round((ranked[middle - 1] + ranked[middle]) / 2, 5)
    card.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return weights
