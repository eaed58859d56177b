"""The findings table: one row per segment (volume in mm³, score, slice range, centre, review status).

Rows are the iteration segments first (in iteration order), then segments the radiologist added by hand (iteration
``None``), so a missed embolus drawn in the Segment Editor is listed and can be reviewed like the others. The score
is the peak of the run's map inside the segment: iExplain's attribution heat map, or the segmenter's probability; a
candidate's score is its reducer score from the findings file (a segment tag), which an edit does not change, and its
calibre class comes with it.
Slice numbers shown are 1-based, as Slicer numbers slices; ``firstSlice``/``lastSlice`` stay the 0-based k index.
:class:`FindingsModel` keeps the rows and re-measures only segments whose voxels changed: a review-status change
re-measures nothing (it used to re-measure every segment as a CT-size array on each click).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import slicer
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from IExplainLib.findings import score_text

from .segments import reviewStatus, segmentCalibre, segmentIteration, segmentScore, setReviewStatus
from .volumes import ijkToRas, voxelVolumeMm3

COLUMNS = ("Iteration", "Segment", "Volume (mm3)", "Score", "First slice", "Last slice", "Review",
           "Center R", "Center A", "Center S", "Study warning", "Calibre")
WARNED_ATTRIBUTE = "IExplain.Warned"  # on the table node: "1" when the worker warned about the study


@dataclass
class Finding:
    iteration: int | None  # None: a segment added by hand
    segmentId: str
    name: str
    voxels: int
    volumeMm3: float
    peakAttribution: float | None  # the score: peak attribution (iExplain) or peak probability (segmenter)
    firstSlice: int | None  # k index (array axis 0, the CT's slice index), None for an empty segment
    lastSlice: int | None
    review: str
    centerRas: tuple[float, float, float] | None
    candidateScore: float | None = None  # a candidate's reducer score (findings file); None for other segments
    calibre: str | None = None  # a candidate's calibre class

    @property
    def handAdded(self) -> bool:
        return self.iteration is None

    @property
    def score(self) -> float | None:
        """The candidate's reducer score, else the peak of the run's map inside the segment."""
        return self.peakAttribution if self.candidateScore is None else self.candidateScore

    @property
    def sliceRange(self) -> str:
        """1-based, as Slicer numbers slices: ``"6-9"``; ``"-"`` for an empty segment."""
        if self.firstSlice is None or self.lastSlice is None:  # both or neither (measureSegment)
            return "-"
        first, last = self.firstSlice + 1, self.lastSlice + 1
        return str(first) if first == last else f"{first}-{last}"


def orderedSegmentIds(segmentationNode) -> list[tuple[int | None, str]]:
    """``[(iteration, segmentId)]``: iteration segments by iteration, then hand-added ones in the editor's order."""
    segmentation = segmentationNode.GetSegmentation()
    found: list[tuple[int | None, str]] = []
    added: list[tuple[int | None, str]] = []
    for index in range(segmentation.GetNumberOfSegments()):
        segmentId = segmentation.GetNthSegmentID(index)
        iteration = segmentIteration(segmentation.GetSegment(segmentId))
        (added if iteration is None else found).append((iteration, segmentId))
    return sorted(found) + added


def segmentBox(segmentationNode, segmentId: str, ctNode):
    """``(mask, (k0, j0, i0))``: the segment's voxels cropped to their bounding box, placed on the CT's grid.

    Read straight from the segment's own labelmap (a view of its voxels, no copy): the work is proportional to that
    labelmap's extent (the box around the segments of its layer, which Paint grows only as far as it paints), never
    to the CT. The old way exported a CT-size array per segment: 1.5 s a segment on 512x512x400 (issue 26, fault
    6). None when the labelmap is not on the CT's grid (then the caller resamples)."""
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    image = segment.GetRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName())
    if image is None:
        return None
    matrix = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    if not np.allclose([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)], ijkToRas(ctNode), atol=1e-4):
        return None
    extent = image.GetExtent()
    dims = ctNode.GetImageData().GetDimensions()
    empty = extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5]
    if empty or image.GetPointData().GetScalars() is None:
        return np.zeros((0, 0, 0), bool), (0, 0, 0)
    voxels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(
        extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    # the part of the labelmap inside the CT (an edit may not reach past it; a labelmap may)
    low = [max(0, -extent[4]), max(0, -extent[2]), max(0, -extent[0])]
    high = [min(voxels.shape[0], dims[2] - extent[4]), min(voxels.shape[1], dims[1] - extent[2]),
            min(voxels.shape[2], dims[0] - extent[0])]
    voxels = voxels[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
    mask = voxels == (segment.GetLabelValue() or 1)
    if not mask.any():
        return np.zeros((0, 0, 0), bool), (0, 0, 0)
    box = [np.flatnonzero(mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    k, j, i = (slice(int(b[0]), int(b[-1]) + 1) for b in box)
    origin = (extent[4] + low[0] + k.start, extent[2] + low[1] + j.start, extent[0] + low[2] + i.start)
    return mask[k, j, i], origin


def measureSegment(segmentationNode, segmentId: str, ctNode, heat=None, iteration: int | None = None) -> Finding:
    """Measure one segment on the CT's grid (``heat``: the score map as an array on that grid, or None)."""
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    boxed = segmentBox(segmentationNode, segmentId, ctNode)
    if boxed is None:  # a labelmap on another grid: resample it onto the CT (slow, exact)
        mask, origin = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, ctNode) > 0, (0, 0, 0)
    else:
        mask, origin = boxed
    count = int(mask.sum())
    if count:
        ks, js, is_ = np.nonzero(mask)
        ks, js, is_ = ks + origin[0], js + origin[1], is_ + origin[2]
        centerIjk = np.array([is_.mean(), js.mean(), ks.mean(), 1.0])
        right, anterior, superior = (float(v) for v in (ijkToRas(ctNode) @ centerIjk)[:3])
        center = (right, anterior, superior)
        first, last = int(ks.min()), int(ks.max())
        if heat is not None:
            k0, j0, i0 = origin
            window = heat[k0:k0 + mask.shape[0], j0:j0 + mask.shape[1], i0:i0 + mask.shape[2]]
            peak = float(window[mask].max())
        else:
            peak = None
    else:
        center, first, last, peak = None, None, None, None
    return Finding(iteration, segmentId, segment.GetName(), count, count * voxelVolumeMm3(ctNode), peak, first, last,
                   reviewStatus(segment), center, segmentScore(segment), segmentCalibre(segment))


def computeFindings(segmentationNode, ctNode, heatmapNode=None) -> list[Finding]:
    """One :class:`Finding` per segment (iterations first, then hand-added), measured on the CT's grid."""
    heat = slicer.util.arrayFromVolume(heatmapNode) if heatmapNode is not None else None
    return [measureSegment(segmentationNode, segmentId, ctNode, heat, iteration)
            for iteration, segmentId in orderedSegmentIds(segmentationNode)]


def fillTableNode(tableNode, findings: list[Finding], warnings: list[str] | None = None) -> None:
    """Write the findings into a ``vtkMRMLTableNode`` (saved with the scene, shown in Slicer's table views).
    Iteration 0 marks a segment added by hand; slice numbers are 1-based (0: the segment is empty). Every row of a
    warned study carries the first warning (the contrast check's), so no row reads as a clean result."""
    warning = warnings[0] if warnings else ""
    tableNode.SetAttribute(WARNED_ATTRIBUTE, "1" if warnings else "0")
    table = vtk.vtkTable()
    arrays = [vtk.vtkIntArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray(), vtk.vtkDoubleArray(),
              vtk.vtkIntArray(), vtk.vtkIntArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray(),
              vtk.vtkDoubleArray(), vtk.vtkDoubleArray(), vtk.vtkStringArray(), vtk.vtkStringArray()]
    for array, name in zip(arrays, COLUMNS):
        array.SetName(name)
        table.AddColumn(array)
    table.SetNumberOfRows(len(findings))
    for row, finding in enumerate(findings):
        center = finding.centerRas or (float("nan"),) * 3
        values: tuple[int | float | str, ...] = (
            0 if finding.iteration is None else finding.iteration, finding.name, round(finding.volumeMm3, 2),
            float("nan") if finding.score is None else finding.score,
            0 if finding.firstSlice is None else finding.firstSlice + 1,  # 1-based; 0: empty segment
            0 if finding.lastSlice is None else finding.lastSlice + 1, finding.review, *center, warning,
            finding.calibre or "")
        for column, value in enumerate(values):
            table.SetValue(row, column, vtk.vtkVariant(value))
    tableNode.SetAndObserveTable(table)
    tableNode.SetUseColumnTitleAsColumnHeader(True)
    tableNode.SetLocked(True)  # measurements, not user input


def measureFindings(segmentationNode, ctNode, heatmapNode=None, tableNode=None) -> list[Finding]:
    """Measure the segments as they are now (after corrections) and rewrite the table node when there is one."""
    findings = computeFindings(segmentationNode, ctNode, heatmapNode)
    if tableNode is not None:
        fillTableNode(tableNode, findings)
    return findings


def panelRowTexts(finding: Finding, withCalibre: bool = False) -> tuple[str, ...]:
    """The panel's columns after its visibility checkbox: name, volume (mm³), score, slices (1-based), review; with
    ``withCalibre`` (a candidates result) the calibre class after the score. The review is always the last."""
    if finding.score is None:
        peak = "-"
    else:  # a candidate's reducer score, or the heat map's peak over an iExplain segment
        peak = score_text(finding.score) if withCalibre else f"{finding.score:.3g}"
    name = f"{finding.name} (added)" if finding.handAdded else finding.name
    calibre = (finding.calibre or "-",) if withCalibre else ()
    return (name, f"{finding.volumeMm3:.0f}", peak, *calibre, finding.sliceRange, finding.review.capitalize())


class FindingsModel:
    """The findings of one segmentation, kept up to date cheaply as the radiologist reviews and edits.

    :meth:`refresh` with the IDs of changed segments re-measures only those whose voxels changed (the labelmap's
    modification time tells), re-reads name and review status of the others, lists new segments and drops removed
    ones; :meth:`setReview` changes one segment's status and its table row without measuring anything.
    """

    def __init__(self, segmentationNode, ctNode, heatmapNode=None, tableNode=None, warnings: list[str] | None = None,
                 measured: list[Finding] | None = None):
        """``measured``: findings the run has just measured (the end of a run measures once, not again here)."""
        self.segmentationNode = segmentationNode
        self.ctNode = ctNode
        self.heatmapNode = heatmapNode
        self.tableNode = tableNode
        self.warnings = list(warnings or [])
        self.findings: list[Finding] = list(measured or [])
        self.measured = 0  # how many segment measurements this model made (the expensive part)
        self._voxelTimes: dict[str, int] = {f.segmentId: self._voxelTime(f.segmentId) for f in self.findings}

    def _voxelTime(self, segmentId: str) -> int:
        segment = self.segmentationNode.GetSegmentation().GetSegment(segmentId)
        representation = segment.GetRepresentation(
            slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()) if segment else None
        return representation.GetMTime() if representation is not None else 0

    def refresh(self, changedIds=None) -> list[Finding]:
        """Measure everything (``changedIds`` None) or only what changed; rewrite the table node. Segments never
        measured (none yet, or added since) are measured whatever ``changedIds`` says."""
        known = {f.segmentId: f for f in self.findings}
        heat = None
        rows = []
        for iteration, segmentId in orderedSegmentIds(self.segmentationNode):
            finding = known.get(segmentId)
            voxelTime = self._voxelTime(segmentId)
            stale = (finding is None or changedIds is None
                     or (segmentId in changedIds and voxelTime != self._voxelTimes.get(segmentId)))
            if stale or finding is None:  # (stale whenever finding is None)
                if heat is None and self.heatmapNode is not None:
                    heat = slicer.util.arrayFromVolume(self.heatmapNode)
                finding = measureSegment(self.segmentationNode, segmentId, self.ctNode, heat, iteration)
                self.measured += 1
                self._voxelTimes[segmentId] = voxelTime
            else:
                segment = self.segmentationNode.GetSegmentation().GetSegment(segmentId)
                finding = replace(finding, iteration=iteration, name=segment.GetName(), review=reviewStatus(segment),
                                  candidateScore=segmentScore(segment), calibre=segmentCalibre(segment))
            rows.append(finding)
        self.findings = rows
        if self.tableNode is not None:
            fillTableNode(self.tableNode, rows, self.warnings)
        return rows

    def setReview(self, segmentId: str, status: str) -> Finding:
        """Set a segment's review status (and its row), measuring nothing."""
        segment = self.segmentationNode.GetSegmentation().GetSegment(segmentId)
        setReviewStatus(segment, status)
        index = next(i for i, f in enumerate(self.findings) if f.segmentId == segmentId)
        self.findings[index] = replace(self.findings[index], review=status)
        if self.tableNode is not None:
            self.tableNode.GetTable().SetValue(index, COLUMNS.index("Review"), vtk.vtkVariant(status))
            self.tableNode.GetTable().Modified()
        return self.findings[index]

    def rowOf(self, segmentId: str) -> int | None:
        return next((i for i, f in enumerate(self.findings) if f.segmentId == segmentId), None)


class SegmentChangeWatch:
    """Collects the IDs of segments added, removed or edited in a segmentation (VTK observers, no Qt); the widget
    drains it with :meth:`take` from a short timer so that a paint stroke causes one refresh, not hundreds."""

    EVENTS = ("SegmentAdded", "SegmentRemoved", "SegmentModified", "RepresentationModified")

    def __init__(self, segmentationNode):
        self.segmentation = segmentationNode.GetSegmentation()
        self.changed: set[str] = set()
        self._tags = [self.segmentation.AddObserver(getattr(slicer.vtkSegmentation, name), self._onEvent)
                      for name in self.EVENTS]

    @vtk.calldata_type(vtk.VTK_STRING)
    def _onEvent(self, caller, event, segmentId=None) -> None:
        self.changed.add(segmentId or "")

    def take(self) -> set[str] | None:
        """The IDs changed since the last call (an empty set when nothing changed)."""
        changed, self.changed = self.changed, set()
        return changed

    def stop(self) -> None:
        for tag in self._tags:
            self.segmentation.RemoveObserver(tag)
        self._tags = []
