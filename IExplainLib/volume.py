"""The one place that owns image geometry.

A :class:`Volume` is a voxel array in **(z, y, x)** order plus ITK/DICOM-style geometry in LPS millimetres:
``spacing`` and ``origin`` are (x, y, z), ``direction`` is a 3x3 matrix whose *columns* are the world directions of
the i (x), j (y) and k (z) array axes. This is exactly what SimpleITK and DICOM use, so readers fill it without
conversion; 3D Slicer works in RAS, and :meth:`Volume.ijk_to_ras` gives the matrix Slicer's volume nodes take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# LPS (DICOM, ITK) and RAS (Slicer) differ by flipping the first two world axes.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Volume:
    """Voxel array (z, y, x) with spacing/origin (x, y, z, mm, LPS) and direction (3x3, columns = i, j, k axes)."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3D (z, y, x) array, got shape {self.array.shape}")
        spacing = tuple(float(s) for s in self.spacing)
        origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if len(spacing) != 3 or len(origin) != 3:
            raise ValueError("spacing and origin need three values (x, y, z)")
        self.spacing, self.origin = (spacing[0], spacing[1], spacing[2]), (origin[0], origin[1], origin[2])
        if min(self.spacing) <= 0:
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (z, y, x)."""
        return tuple(self.array.shape)

    @property
    def size_xyz(self) -> tuple[int, int, int]:
        """Voxel counts in ITK order (x, y, z)."""
        z, y, x = self.array.shape
        return (x, y, z)

    def ijk_to_lps(self) -> np.ndarray:
        """4x4 matrix taking (i, j, k, 1) voxel indices (i = x column) to LPS millimetres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction @ np.diag(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix

    def ijk_to_ras(self) -> np.ndarray:
        """4x4 matrix Slicer's ``vtkMRMLVolumeNode.SetIJKToRASMatrix`` expects."""
        return LPS_TO_RAS @ self.ijk_to_lps()

    @classmethod
    def from_ijk_to_ras(cls, array: np.ndarray, ijk_to_ras: np.ndarray, metadata: dict | None = None) -> "Volume":
        """Inverse of :meth:`ijk_to_ras` (for volumes coming from Slicer)."""
        lps = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)
        axes = lps[:3, :3]
        spacing = np.linalg.norm(axes, axis=0)
        return cls(array, tuple(spacing), tuple(lps[:3, 3]), axes / spacing, metadata or {})

    def with_array(self, array: np.ndarray, **metadata) -> "Volume":
        """A volume on the same grid holding another array (a mask, a heat map)."""
        if tuple(np.shape(array)) != self.shape:
            raise ValueError(f"array shape {np.shape(array)} does not match the volume grid {self.shape}")
        return Volume(array, self.spacing, self.origin, self.direction.copy(), {**metadata})

    def same_grid(self, other: "Volume", tolerance: float = 1e-4) -> bool:
        """True when both volumes overlay voxel for voxel."""
        return self.shape == other.shape and np.allclose(self.ijk_to_lps(), other.ijk_to_lps(), atol=tolerance)

    def index_to_lps(self, ijk) -> np.ndarray:
        """LPS position of voxel index (i, j, k) (i = x)."""
        return (self.ijk_to_lps() @ np.append(np.asarray(ijk, dtype=float), 1.0))[:3]

    def slice_normal(self) -> np.ndarray:
        """Unit vector of the k (slice) axis in LPS."""
        return self.direction[:, 2]

    def describe(self) -> str:
        """One-line geometry summary."""
        z, y, x = self.shape
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        og = ", ".join(f"{o:.4g}" for o in self.origin)
        return f"{x}x{y}x{z} voxels (x, y, z), spacing ({sp}) mm, origin LPS ({og}) mm"
