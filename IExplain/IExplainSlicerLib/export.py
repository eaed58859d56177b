"""Corrected segments -> a labelmap in the CT's exact geometry -> a case in the finetuning dataset folder.

Which segments count: every segment the radiologist did not flag (review status "flagged" means "not a PE, leave it
out"), including segments added by hand in the Segment Editor for emboli the model missed. A candidate whose score is
below the segmentation's threshold (hidden by the panel's slider) is no finding: it is left out, and not counted as
unreviewed, unless the radiologist marked it completed. The label is binary
(embolus / background): the segmenter learns "PE", not the iteration that found it; the iterations stay in
``segmentations/<id>.seg.nrrd`` and in the sidecar.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import slicer

from IExplainLib.errors import IExplainError, InputError
from IExplainLib.modelfile import sha256_of

from .dataset_folder import CasePaths, FinetuneDatasetFolder, safeCaseId
from .provenance import STUDY_FILE_ATTRIBUTE, checkSourceCt, shortId
from .score_threshold import isBelowThreshold, scoreThreshold
from .segments import (ORIGINAL_OUTPUT_ATTRIBUTE, RUN_SETTINGS_ATTRIBUTE, WARNINGS_ATTRIBUTE, reviewStatus,
                       segmentIteration, segmentScore)
from .volumes import ijkToRas, sameGeometry, writeVolumeNode

EXPORT_SOURCE = "3D Slicer IExplain module"
UNREVIEWED_STATUSES = ("not started", "in progress")


@dataclass
class ExportResult:
    caseId: str
    version: int
    paths: CasePaths
    acceptedSegments: list[str]
    flaggedSegments: list[str]
    unreviewedSegments: list[str]
    labelVoxels: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the worker's warnings about the study (not a CTA...)


def segmentReviewSummary(segmentationNode) -> list[dict]:
    """``[{"id", "name", "iteration", "status", "score", "below_threshold"}]`` for every segment, in the
    segmentation's order (``score``: a candidate's reducer score, else None)."""
    segmentation = segmentationNode.GetSegmentation()
    threshold = scoreThreshold(segmentationNode)
    summary = []
    for index in range(segmentation.GetNumberOfSegments()):
        segmentId = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segmentId)
        score = segmentScore(segment)
        summary.append({"id": segmentId, "name": segment.GetName(), "iteration": segmentIteration(segment),
                        "status": reviewStatus(segment), "score": score,
                        "below_threshold": isBelowThreshold(score, threshold)})
    return summary


def _rejected(segment: dict) -> bool:
    """A candidate below the threshold that nobody accepted (completed): no finding, not exported."""
    return bool(segment["below_threshold"]) and segment["status"] != "completed"


def unreviewedSegmentNames(segmentationNode) -> list[str]:
    """Segments nobody has marked completed or flagged yet: exporting them trains on unchecked model output."""
    return [s["name"] for s in segmentReviewSummary(segmentationNode)
            if s["status"] in UNREVIEWED_STATUSES and not _rejected(s)]


def exportSegmentsToLabelmap(segmentationNode, ctNode, segmentIds: list[str], binary: bool = True):
    """A new labelmap node on exactly the CT's grid holding ``segmentIds`` (0/1 when ``binary``)."""
    scene = segmentationNode.GetScene()
    labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", f"{segmentationNode.GetName()} label")
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if segmentIds:
        ok = logic.ExportSegmentsToLabelmapNode(segmentationNode, list(segmentIds), labelmapNode, ctNode,
                                                slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY)
        if not ok:
            scene.RemoveNode(labelmapNode)
            raise IExplainError("Slicer could not export the segments to a labelmap")
    else:  # every finding flagged: an honest all-background label on the CT's grid
        labelmapNode.SetIJKToRASMatrix(_vtkMatrix(ijkToRas(ctNode)))
        slicer.util.updateVolumeFromArray(labelmapNode, np.zeros(slicer.util.arrayFromVolume(ctNode).shape, np.uint8))
    array = slicer.util.arrayFromVolume(labelmapNode)
    if binary:
        array[array > 0] = 1
        slicer.util.arrayFromVolumeModified(labelmapNode)
    if not sameGeometry(labelmapNode, ctNode):
        scene.RemoveNode(labelmapNode)
        raise IExplainError("the exported label is not on the CT's grid (internal error)")
    return labelmapNode


def _vtkMatrix(matrix: np.ndarray):
    import vtk

    result = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            result.SetElement(r, c, float(matrix[r, c]))
    return result


def exportForFinetuning(segmentationNode, ctNode, datasetFolder: str | Path, caseId: str | None = None,
                        runSettings: dict | None = None, slicerVersion: str = "") -> ExportResult:
    """Write the CT, the merged corrected label, the sidecar, the original output and the corrected segments.

    Refused before anything is written when the segmentation was made on another CT (``provenance``). The case ID is
    the typed one, else the CT's name plus eight hex digits of its identity: two studies with the same series name
    never share a case, and a typed ID already used for another CT is refused rather than superseded."""
    if segmentationNode is None or ctNode is None:
        raise InputError("choose the CT and its IExplain segmentation before exporting")
    identity = checkSourceCt(segmentationNode, ctNode)
    folder = FinetuneDatasetFolder(datasetFolder)
    index = folder.load()
    baseId = safeCaseId(caseId) if caseId else f"{safeCaseId(ctNode.GetName())}-{shortId(identity)}"
    folder.checkCaseBelongsTo(index, baseId, identity["key"])
    paths = folder.nextCase(index, baseId)
    summary = segmentReviewSummary(segmentationNode)
    belowThreshold = [s["name"] for s in summary if _rejected(s)]
    accepted = [s for s in summary if s["status"] != "flagged" and not _rejected(s)]
    flagged = [s["name"] for s in summary if s["status"] == "flagged"]
    unreviewed = [s["name"] for s in summary if s["status"] in UNREVIEWED_STATUSES and not _rejected(s)]
    if runSettings is None:
        runSettings = json.loads(segmentationNode.GetAttribute(RUN_SETTINGS_ATTRIBUTE) or "{}")
    written: list[Path] = []
    notes: list[str] = []
    warnings = json.loads(segmentationNode.GetAttribute(WARNINGS_ATTRIBUTE) or "[]")
    studyFile = ctNode.GetAttribute(STUDY_FILE_ATTRIBUTE) or None
    source = {k: v for k, v in identity.items() if k != "key"}
    scene = segmentationNode.GetScene()
    labelmapNode = exportSegmentsToLabelmap(segmentationNode, ctNode, [s["id"] for s in accepted])
    try:
        labelVoxels = int(slicer.util.arrayFromVolume(labelmapNode).sum())
        imagePath = _writeImage(ctNode, paths, index, folder.root, baseId, written)
        written.append(writeVolumeNode(labelmapNode, paths.label))
        original = segmentationNode.GetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE)
        if original and Path(original).exists():
            paths.original.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(original, paths.original)
            written.append(paths.original)
        else:
            notes.append("the model's original output file is no longer available; only corrections were saved")
        written.append(_writeSegmentation(segmentationNode, paths.corrected))
        sidecar = {
            "case": paths.caseId, "base_case": baseId, "version": paths.version,
            "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": EXPORT_SOURCE, "slicer_version": slicerVersion, "ct_node": ctNode.GetName(),
            "ct_identity": source, "ct_identity_key": identity["key"], "study_file": studyFile,
            "warned": bool(warnings), "warnings": warnings,
            "model": {k: runSettings.get(k) for k in ("method", "classifier", "segmenter", "reducer")},
            "parameters": runSettings,
            "accepted_iterations": sorted(s["iteration"] for s in accepted if s["iteration"] is not None),
            "added_segments": [s["name"] for s in accepted if s["iteration"] is None],
            "segments": summary,
            "score_threshold": scoreThreshold(segmentationNode),
            "below_threshold_segments": belowThreshold,
            "review_status": "partial" if unreviewed else "complete",
            "label": {"values": "0 background, 1 embolus", "voxels": labelVoxels},
            "notes": notes,
        }
        paths.sidecar.parent.mkdir(parents=True, exist_ok=True)
        paths.sidecar.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        written.append(paths.sidecar)
        root = folder.root
        entry = {"id": paths.caseId, "image": imagePath.relative_to(root).as_posix(),
                 "label": paths.relative(paths.label, root),
                 "provenance": {"source": EXPORT_SOURCE, "base_case": baseId, "version": paths.version,
                                "sidecar": paths.relative(paths.sidecar, root),
                                "original": paths.relative(paths.original, root) if paths.original in written else None,
                                "corrected_segmentation": paths.relative(paths.corrected, root),
                                "exported_at": sidecar["exported_at"], "review_status": sidecar["review_status"],
                                "ct_identity_key": identity["key"], "study_file": studyFile,
                                "warned": bool(warnings), "warnings": warnings}}
        folder.addCase(index, baseId, entry, identity["key"])
    except BaseException:
        for path in written:  # the index was not updated: leave no orphan files behind
            path.unlink(missing_ok=True)
        raise
    finally:
        scene.RemoveNode(labelmapNode)
    return ExportResult(paths.caseId, paths.version, paths, [s["name"] for s in accepted], flagged, unreviewed,
                        labelVoxels, notes, warnings)


def _writeImage(ctNode, paths: CasePaths, index: dict, root: Path, baseId: str, written: list[Path]) -> Path:
    """Write the CT; a later version of a case whose CT is unchanged points at the image already there."""
    writeVolumeNode(ctNode, paths.image)
    written.append(paths.image)
    digest = sha256_of(paths.image)
    for case in index.get("cases", []):
        previous = root / str(case.get("image", ""))
        if case.get("provenance", {}).get("base_case") == baseId and previous.is_file() and previous != paths.image \
                and sha256_of(previous) == digest:
            paths.image.unlink()
            written.remove(paths.image)
            return previous
    return paths.image


def _writeSegmentation(segmentationNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(path))
    if not storage.WriteData(segmentationNode):
        raise IExplainError(f"could not write the corrected segmentation to {path}")
    return path
