"""Make the PyPI ``slicer-core`` wheel behave enough like Slicer's Python for the module's MRML logic.

SLICER_NOTES 11.2: the wheel has MRML, segmentations and volumes logic but no application, so a scene, the
segmentation converter rules and a ``slicer.modules`` namespace are set up here. Nothing here is a mock: every
node, conversion and file write is the real Slicer C++ code.
"""

from __future__ import annotations

import types

import slicer

_RULES_REGISTERED = False


def newScene():
    """A fresh MRML scene, also installed as ``slicer.mrmlScene`` (slicer.util helpers use it)."""
    global _RULES_REGISTERED
    if not _RULES_REGISTERED:
        factory = slicer.vtkSegmentationConverterFactory.GetInstance()
        factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
        factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())
        _RULES_REGISTERED = True
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    segmentationsLogic = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentationsLogic.SetMRMLScene(scene)
    volumesLogic = slicer.vtkSlicerVolumesLogic()
    volumesLogic.SetMRMLScene(scene)
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentationsLogic),
        volumes=types.SimpleNamespace(logic=lambda: volumesLogic))
    return scene
