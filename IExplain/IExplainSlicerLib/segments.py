"""``iexplain detect`` output -> a segmentation node with one reviewed-ready segment per iteration.

Each segment is named ``PE iteration k`` (a candidates run: ``PE k (calibre, score)``, finding k of the findings
file, with its score and calibre class kept as segment tags, which the ``.seg.nrrd`` saves), gets its own colour, the DICOM Embolus terminology (category SCT 49755003,
type SCT 55584005, region SCT 81040000; SLICER_NOTES section 9) and the review status "Not started"; the segmentation
references the CT so that it overlays it voxel for voxel and exports in its exact geometry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import slicer

from IExplainLib.errors import InputError
from IExplainLib.findings import score_text

from .volumes import ijkToRas

ITERATION_TAG = "IExplain.Iteration"
ORIGINAL_OUTPUT_ATTRIBUTE = "IExplain.OriginalOutput"
RUN_SETTINGS_ATTRIBUTE = "IExplain.RunSettings"
WARNINGS_ATTRIBUTE = "IExplain.Warnings"  # JSON list of the worker's warnings about the study (not a CTA first)
SCORE_TAG = "IExplain.Score"  # a candidate's reducer score (findings file), on its segment
CALIBRE_TAG = "IExplain.Calibre"  # a candidate's calibre class: central, lobar, segmental, subsegmental

EMBOLUS_TERMINOLOGY = (
    "Segmentation category and type - DICOM master list"
    "~SCT^49755003^Morphologically Altered Structure"
    "~SCT^55584005^Embolus"
    "~^^"
    "~Anatomic codes - DICOM master list"
    "~SCT^81040000^Pulmonary artery"
    "~^^")

# Distinct, colour-blind-aware hues (Okabe-Ito order, then extras) so neighbouring iterations never look alike.
ITERATION_COLORS = (
    (0.835, 0.369, 0.000), (0.000, 0.447, 0.698), (0.941, 0.894, 0.259), (0.000, 0.620, 0.451),
    (0.800, 0.475, 0.655), (0.337, 0.706, 0.914), (0.902, 0.624, 0.000), (0.600, 0.200, 0.200),
    (0.400, 0.400, 0.900), (0.500, 0.800, 0.300),
)

REVIEW_STATUSES = ("not started", "in progress", "completed", "flagged")


def iterationColor(iteration: int) -> tuple[float, float, float]:
    return ITERATION_COLORS[(iteration - 1) % len(ITERATION_COLORS)]


def iterationName(iteration: int) -> str:
    return f"PE iteration {iteration}"


def _statusEnum(status: str) -> int:
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    values = {"not started": logic.NotStarted, "in progress": logic.InProgress, "completed": logic.Completed,
              "flagged": logic.Flagged}
    if status not in values:
        raise InputError(f"unknown review status {status!r} (use {', '.join(REVIEW_STATUSES)})")
    return values[status]


def setReviewStatus(segment, status: str) -> None:
    slicer.vtkSlicerSegmentationsModuleLogic.SetSegmentStatus(segment, _statusEnum(status))


def reviewStatus(segment) -> str:
    value = slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentStatus(segment)
    for name in REVIEW_STATUSES:
        if _statusEnum(name) == value:
            return name
    return "not started"


def segmentIteration(segment) -> int | None:
    """The iteration a segment came from (tag written on import, else its name)."""
    tag = _getTag(segment, ITERATION_TAG)
    if tag and tag.isdigit():
        return int(tag)
    match = re.search(r"iteration\s*(\d+)", segment.GetName() or "", re.IGNORECASE)
    return int(match.group(1)) if match else None


def candidateSegmentName(row: Mapping) -> str:
    """The library's name of a candidates finding: ``PE k (calibre, score)``."""
    return f"PE {int(row['finding'])} ({row.get('calibre') or '?'}, {score_text(row['score'])})"


def segmentScore(segment) -> float | None:
    """The reducer score of a candidate's segment; None for other segments (iterations, added by hand)."""
    text = _getTag(segment, SCORE_TAG) if segment is not None else None
    try:
        return float(text) if text else None
    except ValueError:
        return None


def segmentCalibre(segment) -> str | None:
    return (_getTag(segment, CALIBRE_TAG) or None) if segment is not None else None


def _getTag(segment, name: str) -> str | None:
    """vtkSegment.GetTag(name, str&): VTK Python wraps the out-argument as a mutable string reference."""
    import vtk

    value = vtk.reference("")
    return str(value) if segment.GetTag(name, value) else None


def iterationSegmentIds(segmentationNode) -> list[tuple[int, str]]:
    """``[(iteration, segmentId)]`` sorted by iteration, for segments that carry one."""
    segmentation = segmentationNode.GetSegmentation()
    found = []
    for index in range(segmentation.GetNumberOfSegments()):
        segmentId = segmentation.GetNthSegmentID(index)
        iteration = segmentIteration(segmentation.GetSegment(segmentId))
        if iteration is not None:
            found.append((iteration, segmentId))
    return sorted(found)


def loadDetectionSegmentation(scene, path: str | Path, ctNode, name: str | None = None,
                              candidates: Mapping[int, Mapping] | None = None):
    """Read a detection result (``.seg.nrrd``, or a labelmap whose value k means iteration k) onto ``ctNode``.
    ``candidates``: the findings rows of a candidates run by finding number (label value k = finding k)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"detection output {path} not found")
    segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or f"{ctNode.GetName()} PE")
    try:
        if path.name.endswith(".seg.nrrd"):
            _readSegNrrd(segmentationNode, path)
        else:
            _importLabelmapFile(scene, segmentationNode, path)
        _checkGrid(segmentationNode, ctNode, path)
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(ctNode)
        segmentationNode.SetNodeReferenceID(segmentationNode.GetReferenceImageGeometryReferenceRole(), ctNode.GetID())
        _normaliseIterationSegments(segmentationNode, candidates)
    except Exception:
        scene.RemoveNode(segmentationNode)
        raise
    segmentationNode.CreateDefaultDisplayNodes()
    segmentationNode.SetAttribute(ORIGINAL_OUTPUT_ATTRIBUTE, str(path))
    return segmentationNode


def _readSegNrrd(segmentationNode, path: Path) -> None:
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(path))
    if not storage.ReadData(segmentationNode):
        raise InputError(f"{path} could not be read as a segmentation")


def _importLabelmapFile(scene, segmentationNode, path: Path) -> None:
    from .volumes import loadVolumeFile

    labelmapNode = loadVolumeFile(scene, path, "IExplain import", labelmap=True)
    try:
        values = sorted(int(v) for v in np.unique(slicer.util.arrayFromVolume(labelmapNode)) if v > 0)
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(labelmapNode)
        segmentation = segmentationNode.GetSegmentation()
        ids = [segmentation.AddEmptySegment("", iterationName(v)) for v in values]
        for segmentId, value in zip(ids, values):
            segmentation.GetSegment(segmentId).SetLabelValue(value)
        if ids:
            import vtk

            idArray = vtk.vtkStringArray()
            for segmentId in ids:
                idArray.InsertNextValue(segmentId)
            # Label value n goes to the n-th listed ID, so map through a relabelled copy 1..len(values).
            array = slicer.util.arrayFromVolume(labelmapNode)
            relabelled = np.zeros_like(array)
            for index, value in enumerate(values, start=1):
                relabelled[array == value] = index
            array[:] = relabelled
            slicer.util.arrayFromVolumeModified(labelmapNode)
            if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
                    labelmapNode, segmentationNode, idArray):
                raise InputError(f"{path} could not be imported as iteration segments")
    finally:
        scene.RemoveNode(labelmapNode)


def _checkGrid(segmentationNode, ctNode, path: Path) -> None:
    """Refuse output on another grid than the CT: it would be resampled silently and no longer match voxel for voxel."""
    segmentation = segmentationNode.GetSegmentation()
    if segmentation.GetNumberOfSegments() == 0:
        return
    import vtk

    image = segmentation.GetSegment(segmentation.GetNthSegmentID(0)).GetRepresentation(
        slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName())
    if image is None:
        return
    matrix = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    segMatrix = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    if not np.allclose(segMatrix, ijkToRas(ctNode), atol=1e-3):
        raise InputError(f"{path.name} is not on the grid of {ctNode.GetName()} (different spacing, origin or "
                         "direction); it would not overlay the CT voxel for voxel")
    extent = image.GetExtent()
    dims = ctNode.GetImageData().GetDimensions()
    if extent[0] <= extent[1] and (min(extent[0::2]) < 0 or any(extent[2 * a + 1] >= dims[a] for a in range(3))):
        raise InputError(f"{path.name} extends beyond {ctNode.GetName()} ({extent} vs dimensions {dims})")


def _normaliseIterationSegments(segmentationNode, candidates: Mapping[int, Mapping] | None = None) -> None:
    """Name, colour, terminology, iteration tag and review status for every segment, in iteration order; a
    candidate's segment also gets its score and calibre tags from its findings row."""
    segmentation = segmentationNode.GetSegmentation()
    segments = []
    for index in range(segmentation.GetNumberOfSegments()):
        segmentId = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segmentId)
        iteration = segmentIteration(segment) or (segment.GetLabelValue() or index + 1)
        segments.append((iteration, index, segment))
    if len({iteration for iteration, _, _ in segments}) < len(segments):  # no usable numbering: file order
        segments = [(index + 1, index, segment) for _, index, segment in segments]
    for iteration, _, segment in sorted(segments, key=lambda item: (item[0], item[1])):
        row = candidates.get(iteration) if candidates is not None else None
        segment.SetName(candidateSegmentName(row) if row else iterationName(iteration))
        if row:
            segment.SetTag(SCORE_TAG, repr(float(row["score"])))
            segment.SetTag(CALIBRE_TAG, str(row.get("calibre") or ""))
        segment.SetNameAutoGenerated(False)
        segment.SetColor(*iterationColor(iteration))
        segment.SetColorAutoGenerated(False)
        segment.SetTag(segment.GetTerminologyEntryTagName(), EMBOLUS_TERMINOLOGY)
        segment.SetTag(ITERATION_TAG, str(iteration))
        setReviewStatus(segment, "not started")


def setIterationVisible(segmentationNode, segmentId: str, visible: bool) -> None:
    """Per-iteration visibility toggle (visibility lives on the display node, not on the segment)."""
    displayNode = segmentationNode.GetDisplayNode()
    if displayNode is None:
        segmentationNode.CreateDefaultDisplayNodes()
        displayNode = segmentationNode.GetDisplayNode()
    displayNode.SetSegmentVisibility(segmentId, bool(visible))
