"""Corrected segments -> labelmap and finetuning folder, in exactly the CT's geometry (real slicer-core)."""

from __future__ import annotations

import json
import re
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


# -- issue 26: provenance of every export (faults 3 and 4) ------------------------------------------------------------
def dicom_series(ct, uid: str, study: str = "1.2.3", patient: str = "P1") -> None:
    """What Slicer's DICOM loading leaves in the subject hierarchy: patient > study > series items with UIDs."""
    sh = ct.GetScene().GetSubjectHierarchyNode()
    patientItem = sh.CreateFolderItem(sh.GetSceneItemID(), "patient")
    studyItem = sh.CreateFolderItem(patientItem, "study")
    item = sh.GetItemByDataNode(ct) or sh.CreateItem(studyItem, ct)
    sh.SetItemParent(item, studyItem)
    for target, value in ((patientItem, patient), (studyItem, study), (item, uid)):
        sh.SetItemUID(target, "DICOM", value)


def test_export_refuses_a_segmentation_made_on_another_ct(reviewed, tmp_path, ct_volume):
    """Fault 3: exporting A's segmentation with CT B used to succeed silently."""
    from IExplainLib.io import write_volume
    from IExplainSlicerLib.provenance import recordSourceCt
    from IExplainSlicerLib.volumes import loadVolumeFile

    ct, seg, _, _, _ = reviewed
    other = loadVolumeFile(seg.GetScene(), write_volume(tmp_path / "b.nrrd", ct_volume.with_array(
        ct_volume.array[::-1].copy())), "B")
    with pytest.raises(InputError, match=r"refused: .* was drawn on ct, not on B"):
        exportForFinetuning(seg, other, tmp_path / "dataset")  # no record yet: the geometry reference decides
    recordSourceCt(seg, ct)
    seg.RemoveNodeReferenceIDs(seg.GetReferenceImageGeometryReferenceRole())
    with pytest.raises(InputError) as refused:
        exportForFinetuning(seg, other, tmp_path / "dataset")
    assert re.match(r"refused: \S+ PE was made on the CT ct \(voxels sha256 [0-9a-f]{12}\), not on B \(voxels sha256 "
                    r"[0-9a-f]{12}\); choose the CT it was made on$", str(refused.value))
    assert not (tmp_path / "dataset").exists(), "nothing written"
    same = loadVolumeFile(seg.GetScene(), write_volume(tmp_path / "again.nrrd", ct_volume), "ct reloaded")
    result = exportForFinetuning(seg, same, tmp_path / "dataset")
    sidecar = json.loads(result.paths.sidecar.read_text())
    assert sidecar["ct_identity"]["kind"] == "content" and sidecar["ct_identity_key"].startswith("sha256:")


def test_a_dicom_series_is_identified_by_its_series_instance_uid(reviewed, tmp_path, ct_volume):
    from IExplainLib.io import write_volume
    from IExplainSlicerLib.provenance import ctIdentity, recordSourceCt
    from IExplainSlicerLib.volumes import loadVolumeFile

    ct, seg, _, _, _ = reviewed
    twin = loadVolumeFile(seg.GetScene(), write_volume(tmp_path / "twin.nrrd", ct_volume), "ct")
    dicom_series(ct, "1.2.3.4.1")
    dicom_series(twin, "1.2.3.4.2")  # the same voxels, another series (a repeat scan, a copy, a phantom)
    assert ctIdentity(ct) == {"kind": "dicom", "series_instance_uid": "1.2.3.4.1", "study_instance_uid": "1.2.3",
                              "patient_id": "P1", "dimensions": [20, 24, 12], "key": "dicom:1.2.3.4.1"}
    recordSourceCt(seg, ct)
    seg.RemoveNodeReferenceIDs(seg.GetReferenceImageGeometryReferenceRole())
    with pytest.raises(InputError, match="made on the CT ct \\(series 1.2.3.4.1\\), not on ct \\(series 1.2.3.4.2\\)"):
        exportForFinetuning(seg, twin, tmp_path / "dataset")
    result = exportForFinetuning(seg, ct, tmp_path / "dataset")
    assert json.loads(result.paths.sidecar.read_text())["ct_identity"]["series_instance_uid"] == "1.2.3.4.1"


def test_case_ids_are_unique_per_study_and_a_typed_id_of_another_ct_is_refused(reviewed, tmp_path, ct_volume):
    """Fault 4: two studies both named "5: CTA Chest" became one case, and the first patient was superseded."""
    from IExplainLib.io import write_volume
    from IExplainSlicerLib.provenance import recordSourceCt
    from IExplainSlicerLib.volumes import loadVolumeFile

    ct, seg, original, _, _ = reviewed
    scene = seg.GetScene()
    ct.SetName("5: CTA Chest")
    recordSourceCt(seg, ct)
    other = loadVolumeFile(scene, write_volume(tmp_path / "b.nrrd", ct_volume.with_array(ct_volume.array + 1)),
                           "5: CTA Chest")
    otherSeg = loadDetectionSegmentation(scene, original, other)
    folder = tmp_path / "dataset"
    first = exportForFinetuning(seg, ct, folder)
    second = exportForFinetuning(otherSeg, other, folder)
    assert re.fullmatch(r"5-CTA-Chest-[0-9a-f]{8}", first.caseId) and first.caseId != second.caseId
    index = json.loads((folder / "dataset.json").read_text())
    assert sorted(c["id"] for c in index["cases"]) == sorted([first.caseId, second.caseId])
    assert "superseded_cases" not in index, "neither patient superseded the other"
    exportForFinetuning(seg, ct, folder, "typed")
    with pytest.raises(InputError, match="case typed already holds another CT"):
        exportForFinetuning(otherSeg, other, folder, "typed")
    assert [c["id"] for c in json.loads((folder / "dataset.json").read_text())["cases"]].count("typed") == 1
