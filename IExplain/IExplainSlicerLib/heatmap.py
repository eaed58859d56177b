"""The attribution heat map as a volume node, shown as a coloured overlay on the CT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import slicer

from IExplainLib.errors import InputError

from .volumes import loadVolumeFile, sameGeometry

# First colour table that exists wins: Slicer ships these; the PyPI slicer-core scene has none (then grey stays).
HEATMAP_COLOR_NODE_IDS = ("vtkMRMLColorTableNodeFileColdToHotRainbow.txt", "vtkMRMLColorTableNodeRainbow",
                          "vtkMRMLColorTableNodeFileHotToColdRainbow.txt")
HEATMAP_ATTRIBUTE = "IExplain.Heatmap"
SOURCE_CT_REFERENCE = "IExplainSourceCT"  # the CT a heat map was computed on: the only one it is drawn over


def loadHeatmap(scene, path: str | Path, ctNode, name: str | None = None):
    """Read the heat map, check it lies on the CT's grid, and set a colour map whose zero level is transparent."""
    node = loadVolumeFile(scene, path, name or f"{ctNode.GetName()} attribution")
    if not sameGeometry(node, ctNode):
        scene.RemoveNode(node)
        raise InputError(f"heat map {Path(path).name} is not on the grid of {ctNode.GetName()}")
    node.SetAttribute(HEATMAP_ATTRIBUTE, "1")
    node.SetNodeReferenceID(SOURCE_CT_REFERENCE, ctNode.GetID())
    configureHeatmapDisplay(scene, node)
    return node


def defaultInputVolume(scene):
    """The scene's first scalar volume, the panel's initial CT, unless that is one of our heat maps."""
    firstVolumeNode = scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
    if firstVolumeNode and not firstVolumeNode.GetAttribute(HEATMAP_ATTRIBUTE):
        return firstVolumeNode
    return None


def configureHeatmapDisplay(scene, node) -> None:
    values = slicer.util.arrayFromVolume(node)
    peak = float(np.max(values)) if values.size else 0.0
    displayNode = node.GetDisplayNode()
    if displayNode is None:
        node.CreateDefaultDisplayNodes()
        displayNode = node.GetDisplayNode()
    for colorNodeId in HEATMAP_COLOR_NODE_IDS:
        if scene.GetNodeByID(colorNodeId) is not None:
            displayNode.SetAndObserveColorNodeID(colorNodeId)
            break
    top = peak if peak > 0 else 1.0
    displayNode.AutoWindowLevelOff()
    displayNode.SetWindowLevelMinMax(0.0, top)
    # Below 5 % of the peak is background: thresholded away so only attributed regions colour the CT.
    displayNode.ApplyThresholdOn()
    displayNode.SetThreshold(0.05 * top, max(top, 1e-6) * 1.001)


DEFAULT_OPACITY = 0.4


def showHeatmapOverlay(scene, ctNode, heatmapNode, visible: bool, opacity: float = DEFAULT_OPACITY) -> int:
    """Show (or hide) the heat map over its own CT, touching nothing else.

    ``slicer.util.setSliceViewerLayers`` would reset every view's layers; here the background is set only where a
    view shows nothing, the label layer is never touched, and hiding clears the foreground only where it is this
    heat map (a volume the user put in the foreground stays). A view that shows another CT never gets this heat
    map: drawn over another patient's CT it would read as that patient's result (issue 26, faults 3 and 12).
    Returns the number of views changed.
    """
    changed = 0
    heatmapId = heatmapNode.GetID() if heatmapNode is not None else None
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        composite = scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode")
        before = (composite.GetBackgroundVolumeID(), composite.GetForegroundVolumeID(), composite.GetForegroundOpacity())
        if ctNode is not None and not composite.GetBackgroundVolumeID():
            composite.SetBackgroundVolumeID(ctNode.GetID())
        onItsCt = ctNode is not None and composite.GetBackgroundVolumeID() == ctNode.GetID()
        if visible and heatmapId and onItsCt:
            composite.SetForegroundVolumeID(heatmapId)
            composite.SetForegroundOpacity(float(opacity))
        elif composite.GetForegroundVolumeID() and composite.GetForegroundVolumeID() == heatmapId:
            composite.SetForegroundVolumeID(None)
        after = (composite.GetBackgroundVolumeID(), composite.GetForegroundVolumeID(), composite.GetForegroundOpacity())
        changed += before != after
    return changed


def heatmapLegend(scene, heatmapNode, visible: bool, title: str = "Attribution"):
    """The colour legend of the heat map in the slice views (``vtkMRMLColorLegendDisplayNode``), created once."""
    legend = None
    for index in range(heatmapNode.GetNumberOfDisplayNodes()):
        node = heatmapNode.GetNthDisplayNode(index)
        if node is not None and node.IsA("vtkMRMLColorLegendDisplayNode"):
            legend = node
    if legend is None:
        if not visible:
            return None
        colors = getattr(getattr(slicer, "modules", None), "colors", None)
        if colors is not None:  # Slicer: the Colors module's own way (sizes and places the legend)
            legend = colors.logic().AddDefaultColorLegendDisplayNode(heatmapNode)
        else:  # the Slicer core libraries without the Colors module: the same node, made by hand
            legend = scene.AddNode(slicer.vtkMRMLColorLegendDisplayNode())
            legend.SetAndObservePrimaryDisplayNode(heatmapNode.GetDisplayNode())
            heatmapNode.AddAndObserveDisplayNodeID(legend.GetID())
        legend.SetTitleText(title)
    legend.SetVisibility(bool(visible))
    legend.SetVisibility3D(False)
    return legend
