"""The findings table: one row per iteration segment (volume in mm³, peak attribution, slice range, centre).

Rows are computed from the segments as they are *now*, so the table can be refreshed after corrections. The centre
(RAS) is what the widget jumps the slice views to when a row is selected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import slicer
import vtk

from .segments import iterationSegmentIds, reviewStatus
from .volumes import ijkToRas, voxelVolumeMm3

COLUMNS = ("Iteration", "Segment", "Volume (mm3)", "Peak attribution", "First slice", "Last slice", "Review",
           "Center R", "Center A", "Center S")


@dataclass
class Finding:
    iteration: int
    segmentId: str
    name: str
    voxels: int
    volumeMm3: float
    peakAttribution: float | None
    firstSlice: int | None  # k index (array axis 0, the CT's slice index), None for an empty segment
    lastSlice: int | None
    review: str
    centerRas: tuple[float, float, float] | None

    @property
    def sliceRange(self) -> str:
        return "-" if self.firstSlice is None else f"{self.firstSlice}-{self.lastSlice}"


def computeFindings(segmentationNode, ctNode, heatmapNode=None) -> list[Finding]:
    """One :class:`Finding` per iteration segment, measured on the CT's grid."""
    voxelMm3 = voxelVolumeMm3(ctNode)
    matrix = ijkToRas(ctNode)
    heat = slicer.util.arrayFromVolume(heatmapNode) if heatmapNode is not None else None
    segmentation = segmentationNode.GetSegmentation()
    findings = []
    for iteration, segmentId in iterationSegmentIds(segmentationNode):
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, ctNode) > 0
        segment = segmentation.GetSegment(segmentId)
        count = int(mask.sum())
        if count:
            ks, js, is_ = np.nonzero(mask)
            centerIjk = np.array([is_.mean(), js.mean(), ks.mean(), 1.0])
            center = tuple(float(v) for v in (matrix @ centerIjk)[:3])
            first, last = int(ks.min()), int(ks.max())
            peak = float(heat[mask].max()) if heat is not None else None
        else:
            center, first, last, peak = None, None, None, None
        findings.append(Finding(iteration, segmentId, segment.GetName(), count, count * voxelMm3, peak, first,
                                last, reviewStatus(segment), center))
    return findings


def fillTableNode(tableNode, findings: list[Finding]) -> None:
    """Write the findings into a ``vtkMRMLTableNode`` (saved with the scene, shown in Slicer's table views)."""
    table = vtk.vtkTable()
    arrays = [vtk.vtkIntArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray(), vtk.vtkDoubleArray(),
              vtk.vtkIntArray(), vtk.vtkIntArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray(),
              vtk.vtkDoubleArray(), vtk.vtkDoubleArray()]
    for array, name in zip(arrays, COLUMNS):
        array.SetName(name)
        table.AddColumn(array)
    table.SetNumberOfRows(len(findings))
    for row, finding in enumerate(findings):
        center = finding.centerRas or (float("nan"),) * 3
        values = (finding.iteration, finding.name, round(finding.volumeMm3, 2),
                  float("nan") if finding.peakAttribution is None else finding.peakAttribution,
                  -1 if finding.firstSlice is None else finding.firstSlice,
                  -1 if finding.lastSlice is None else finding.lastSlice, finding.review, *center)
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


def panelRowTexts(finding: Finding) -> tuple[str, str, str, str, str]:
    """The panel's columns after its visibility checkbox: name, volume (mm³), peak attribution, slices, review."""
    peak = "-" if finding.peakAttribution is None else f"{finding.peakAttribution:.3g}"
    return (finding.name, f"{finding.volumeMm3:.0f}", peak, finding.sliceRange, finding.review.capitalize())
