"""Volume nodes to and from files, through Slicer's own storage nodes.

Storage nodes (not ``slicer.util.loadVolume``/``saveNode``, which need the application's IO manager) so that the same
code runs in Slicer and on the PyPI ``slicer-core`` libraries the tests use. A volume written here and read by
``IExplainLib.io.read_volume`` keeps spacing, origin and direction exactly (tested).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import slicer
import vtk

from IExplainLib.errors import InputError
from IExplainLib.volume import Volume


def loadVolumeFile(scene, path: str | Path, name: str | None = None, labelmap: bool = False):
    """Read a NRRD/NIfTI/MHA file into a new scalar (or labelmap) volume node with a display node."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} not found")
    className = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(className, name or _stem(path))
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetSingleFile(True)
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        raise InputError(f"{path} could not be read as a volume")
    node.CreateDefaultDisplayNodes()
    return node


def writeVolumeNode(node, path: str | Path, compress: bool = True) -> Path:
    """Write a volume node to a file (format from the file ending) without touching the node's own storage node."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(1 if compress else 0)
    if not storage.WriteData(node):
        raise InputError(f"could not write {node.GetName()} to {path}")
    return path


def ijkToRas(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def volumeFromNode(node) -> Volume:
    """The node as an ``IExplainLib`` Volume (array copy in (z, y, x), geometry in LPS)."""
    return Volume.from_ijk_to_ras(slicer.util.arrayFromVolume(node).copy(), ijkToRas(node))


def sameGeometry(a, b, tolerance: float = 1e-4) -> bool:
    """True when two volume nodes overlay voxel for voxel (same dimensions and IJK-to-RAS matrix)."""
    return (tuple(a.GetImageData().GetDimensions()) == tuple(b.GetImageData().GetDimensions())
            and np.allclose(ijkToRas(a), ijkToRas(b), atol=tolerance))


def voxelVolumeMm3(node) -> float:
    """Volume of one voxel in mm³ (|det| of the IJK-to-RAS axes, so oblique grids count right)."""
    return float(abs(np.linalg.det(ijkToRas(node)[:3, :3])))


def sequenceBrowserOf(node):
    """The Sequence browser whose current frame ``node`` is (its proxy node), or None."""
    scene = node.GetScene()
    if scene is None:
        return None
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(index, "vtkMRMLSequenceBrowserNode")
        if browser.IsProxyNodeID(node.GetID()):
            return browser
    return None


def _stem(path: Path) -> str:
    name = path.name
    for ending in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii", ".mha", ".mhd"):
        if name.endswith(ending):
            return name[: -len(ending)]
    return path.stem
