"""The voxel grid a phantom is drawn on, in millimetres of a chest-centred frame.

The anatomy is described in a patient frame aligned with DICOM LPS (x towards the patient's left, y posterior,
z superior) whose origin lies in the midline at the level of the carina. Arrays are (z, y, x); ``xs``, ``ys`` and
``zs`` give the frame coordinates of the array columns, rows and slices, so shapes are drawn by broadcasting
1D coordinate vectors instead of materialising 3D coordinate grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    xs: np.ndarray  # (nx,) frame mm of each column
    ys: np.ndarray  # (ny,) frame mm of each row
    zs: np.ndarray  # (nz,) frame mm of each slice
    table_z: float  # LPS z of the frame origin: shifts the whole patient along the table
    spacing: tuple[float, float, float]  # (x, y, z) mm, as Volume wants it
    origin: tuple[float, float, float]   # LPS position of voxel (0, 0, 0)

    @classmethod
    def centred(cls, size: int, slices: int, spacing_xy: float, thickness: float, slab_centre_z: float,
                table_z: float) -> "Grid":
        # Geometry rounded to what a DICOM decimal string carries, so files reproduce it exactly.
        spacing_xy, thickness = round(float(spacing_xy), 6), round(float(thickness), 6)
        x0 = round(-(size - 1) / 2.0 * spacing_xy, 4)
        z0 = round(slab_centre_z - (slices - 1) / 2.0 * thickness, 4)
        table_z = round(float(table_z), 3)
        xs = x0 + np.arange(size) * spacing_xy
        zs = z0 + np.arange(slices) * thickness
        return cls(xs.astype(np.float32), xs.astype(np.float32).copy(), zs.astype(np.float32), table_z,
                   (spacing_xy, spacing_xy, thickness), (x0, x0, round(z0 + table_z, 4)))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.zs), len(self.ys), len(self.xs))

    def broadcast(self):
        """Coordinates shaped (1,1,nx), (1,ny,1), (nz,1,1) for broadcasting over (z, y, x)."""
        return self.xs[None, None, :], self.ys[None, :, None], self.zs[:, None, None]

    def index_range(self, axis_coords: np.ndarray, low: float, high: float) -> tuple[int, int]:
        """Half-open index range of the (ascending) coordinates lying in [low, high]."""
        start = int(np.searchsorted(axis_coords, low, side="left"))
        stop = int(np.searchsorted(axis_coords, high, side="right"))
        return start, stop

    def box(self, low: np.ndarray, high: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Array slices (z, y, x) covering the frame box [low, high] (x, y, z mm), or None when outside."""
        x0, x1 = self.index_range(self.xs, low[0], high[0])
        y0, y1 = self.index_range(self.ys, low[1], high[1])
        z0, z1 = self.index_range(self.zs, low[2], high[2])
        if x1 <= x0 or y1 <= y0 or z1 <= z0:
            return None
        return (slice(z0, z1), slice(y0, y1), slice(x0, x1))

    def local_coords(self, region: tuple[slice, slice, slice]):
        """Broadcastable coordinates of a sub-box returned by :meth:`box`."""
        zsl, ysl, xsl = region
        return self.xs[xsl][None, None, :], self.ys[ysl][None, :, None], self.zs[zsl][:, None, None]
