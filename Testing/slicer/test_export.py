"""Corrected segments -> labelmap and finetuning folder, in exactly the CT's geometry (real slicer-core)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import slicer

from IExplainLib.datasets import open_dataset
from IExplainLib.errors import IExplainError, InputError
from IExplainLib.io import read_volume
from IExplainLib.modelfile import read_card, sha256_of
from IExplainSlicerLib.export import exportForFinetuning, exportSegmentsToLabelmap, unreviewedSegmentNames
from IExplainSlicerLib.finetuning import startFinetuneRun
from IExplainSlicerLib.model_registry import ModelRegistry, bundledModelFolders
from IExplainSlicerLib.segments import iterationSegmentIds, loadDetectionSegmentation, setReviewStatus
from IExplainSlicerLib.volumes import sameGeometry
from IExplainSlicerLib.worker import WorkerLauncher

REPO = Path(__file__).resolve().parents[2]


def test_unreviewed_segments_are_those_neither_completed_nor_flagged(reviewed):
    ct, seg, original, _, _ = reviewed
    assert unreviewedSegmentNames(seg) == []
    first = iterationSegmentIds(seg)[0][1]
    setReviewStatus(seg.GetSegmentation().GetSegment(first), "in progress")
    assert unreviewedSegmentNames(seg) == ["PE iteration 1"]
    fresh = loadDetectionSegmentation(seg.GetScene(), original, ct)
    assert unreviewedSegmentNames(fresh) == ["PE iteration 1", "PE iteration 2", "PE iteration 3"]


def test_labelmap_export_is_on_the_ct_grid(reviewed):
    ct, seg, _, expected, _ = reviewed
    ids = [sid for _, sid in iterationSegmentIds(seg)[:2]]
    label = exportSegmentsToLabelmap(seg, ct, ids)
    assert sameGeometry(label, ct)
    assert np.array_equal(slicer.util.arrayFromVolume(label), expected.astype(np.uint8))


def test_export_writes_a_dataset_the_library_accepts(reviewed, tmp_path, ct_volume):
    ct, seg, original, expected, labels = reviewed
    original_bytes = original.read_bytes()
    folder = tmp_path / "dataset"
    result = exportForFinetuning(seg, ct, folder, "patient 7", runSettings={"method": "iexplain", "classifier": "c"})
    assert result.caseId == "patient-7" and result.version == 1
    assert result.flaggedSegments == ["PE iteration 3"] and result.unreviewedSegments == []

    cases = open_dataset(folder)
    assert [case.id for case in cases] == ["patient-7"]
    image, label = cases[0].load_image(), cases[0].load_label()
    assert image.same_grid(ct_volume) and np.array_equal(image.array, ct_volume.array)
    assert label.same_grid(ct_volume), "the label must be in exactly the CT's geometry"
    assert np.array_equal(label.array, expected.astype(label.array.dtype))

    # the model's own output is kept apart and untouched by the corrections
    assert result.paths.original.read_bytes() == original_bytes
    assert (folder / "segmentations" / "patient-7.seg.nrrd").exists()
    sidecar = json.loads(result.paths.sidecar.read_text())
    assert sidecar["accepted_iterations"] == [1, 2] and sidecar["review_status"] == "complete"
    assert sidecar["model"]["classifier"] == "c" and sidecar["label"]["voxels"] == int(expected.sum())
    assert {s["name"]: s["status"] for s in sidecar["segments"]}["PE iteration 3"] == "flagged"
    assert sidecar["exported_at"].endswith("+00:00")


def test_second_export_adds_a_version_and_never_overwrites(reviewed, tmp_path):
    ct, seg, _, _, _ = reviewed
    folder = tmp_path / "dataset"
    first = exportForFinetuning(seg, ct, folder, "case")
    first_label = first.paths.label.read_bytes()
    setReviewStatus(seg.GetSegmentation().GetSegment(iterationSegmentIds(seg)[2][1]), "completed")
    second = exportForFinetuning(seg, ct, folder, "case")
    assert (second.caseId, second.version) == ("case-v2", 2)
    assert first.paths.label.read_bytes() == first_label  # version 1 is still there, unchanged
    index = json.loads((folder / "dataset.json").read_text())
    assert [c["id"] for c in index["cases"]] == ["case-v2"]  # training sees one label per CT
    assert [c["id"] for c in index["superseded_cases"]] == ["case"]
    assert index["superseded_cases"][0]["provenance"]["superseded_by"] == "case-v2"
    # the CT did not change: version 2 points at the image already written instead of a copy
    assert index["cases"][0]["image"] == "images/case.nrrd" and not (folder / "images" / "case-v2.nrrd").exists()
    assert sha256_of(folder / "images" / "case.nrrd")
    assert exportForFinetuning(seg, ct, folder, "case").caseId == "case-v3"
    assert [c.id for c in open_dataset(folder)] == ["case-v3"]


def test_export_refuses_a_foreign_dataset_json_and_leaves_no_files(reviewed, tmp_path):
    ct, seg, _, _, _ = reviewed
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "dataset.json").write_text('{"format": "nnunet"}')
    with pytest.raises(InputError, match="not an IExplain dataset"):
        exportForFinetuning(seg, ct, folder, "case")
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json"]


def test_everything_flagged_exports_an_all_background_label(reviewed, tmp_path, ct_volume):
    ct, seg, _, _, _ = reviewed
    for _, segment_id in iterationSegmentIds(seg):
        setReviewStatus(seg.GetSegmentation().GetSegment(segment_id), "flagged")
    result = exportForFinetuning(seg, ct, tmp_path / "dataset", "negative")
    label = read_volume(result.paths.label)
    assert label.same_grid(ct_volume) and not label.array.any() and result.labelVoxels == 0


def test_exported_folder_finetunes_the_bundled_segmenter(reviewed, tmp_path):
    """The whole loop closes: what the radiologist exports is what ``iexplain finetune`` trains on, started the way
    the Finetune button starts it (a worker process), and the result joins the model list."""
    ct, seg, _, _, _ = reviewed
    folder = tmp_path / "dataset"
    exportForFinetuning(seg, ct, folder, "case")
    registry = ModelRegistry(bundledModelFolders(REPO / "IExplain"), tmp_path / "user")
    launcher = WorkerLauncher(libraryRoot=REPO)
    with pytest.raises(IExplainError, match="needs a segmenter"):
        startFinetuneRun(registry.models("classifier")[0], folder, registry, launcher)
    segmenter = next(m for m in registry.models("segmenter") if m.name == "demo-segmenter")
    run = startFinetuneRun(segmenter, folder, registry, launcher, "cpu",
                           ["--iterations", "2", "--warmup", "1", "--batch-size", "1"])
    result = run.job.runToCompletion(timeout=300)
    assert result.succeeded, result.log
    entry = run.finish()
    assert (entry.kind, entry.source) == ("segmenter", "finetuned")
    assert entry.weightsPath == tmp_path / "user" / f"{segmenter.weightsPath.stem}-ft1.safetensors"
    assert registry.find(entry.weightsPath).source == "finetuned"
    assert "case" in json.dumps(read_card(entry.weightsPath)["training"])
