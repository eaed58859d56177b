"""Corrected segments -> labelmap and finetuning folder, in exactly the CT's geometry (real slicer-core)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicer
from slicer_test_data import iteration_labelmap

from IExplainLib.datasets import open_dataset
from IExplainLib.errors import InputError
from IExplainLib.io import read_volume, write_segmentation
from IExplainLib.modelfile import sha256_of
from IExplainSlicerLib.export import exportForFinetuning, exportSegmentsToLabelmap
from IExplainSlicerLib.segments import iterationSegmentIds, loadDetectionSegmentation, setReviewStatus
from IExplainSlicerLib.volumes import loadVolumeFile, sameGeometry


@pytest.fixture
def reviewed(scene, tmp_path, ct_file, ct_volume):
    """A detection result where the radiologist accepted iteration 1, flagged 3, and added a missed embolus to 2."""
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
    """The whole loop closes: what the radiologist exports is what ``iexplain finetune`` trains on."""
    from IExplainLib.cli.main import main
    from IExplainLib.modelfile import bundled_model, read_card

    ct, seg, _, _, _ = reviewed
    folder = tmp_path / "dataset"
    exportForFinetuning(seg, ct, folder, "case")
    out = tmp_path / "finetuned.safetensors"
    assert main(["finetune", "--from", str(bundled_model("demo-segmenter")), "--data", str(folder), "--out", str(out),
                 "--iterations", "2", "--warmup", "1", "--batch-size", "1", "--device", "cpu",
                 "--progress", "quiet"]) == 0
    card = read_card(out)
    assert card["kind"] == "segmenter" and "case" in json.dumps(card["training"])
