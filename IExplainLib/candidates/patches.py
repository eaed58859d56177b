"""Candidate-centred patches for the patch network: three orthogonal planes through each candidate (as Tajbakhsh et
al. 2015 feed a CNN), sampled at a fixed millimetre pitch so that studies of any resolution look alike to it.

Channels (``PATCH_CHANNELS``): the axial plane one slice pitch above, at and below the centroid, the coronal and the
sagittal plane, each HU-windowed to [0, 1]; then the candidate's own voxels in the axial, coronal and sagittal plane
(so the network knows which of the dark spots in view it is asked about).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..transforms import window_hu

PATCH_PX = 32
PATCH_MM = 1.0
PATCH_WINDOW = (150.0, 700.0)   # centre, width: clot (20-90 HU) to lumen (250-450 HU) stay apart, lung is black
PATCH_CHANNELS = ("axial_above", "axial", "axial_below", "coronal", "sagittal",
                  "mask_axial", "mask_coronal", "mask_sagittal")


def _plane_coordinates(centre_zyx: np.ndarray, spacing_zyx: np.ndarray, axes: tuple[int, int],
                       offset_mm: float = 0.0) -> np.ndarray:
    """(3, P, P) voxel coordinates of a plane spanned by two of (z, y, x), ``offset_mm`` along the third."""
    half = (PATCH_PX - 1) / 2.0
    steps = (np.arange(PATCH_PX) - half) * PATCH_MM
    grid = np.empty((3, PATCH_PX, PATCH_PX), np.float32)
    normal = 3 - axes[0] - axes[1]
    grid[axes[0]] = centre_zyx[axes[0]] + steps[:, None] / spacing_zyx[axes[0]]
    grid[axes[1]] = centre_zyx[axes[1]] + steps[None, :] / spacing_zyx[axes[1]]
    grid[normal] = centre_zyx[normal] + offset_mm / spacing_zyx[normal]
    return grid


def candidate_patches(hu: np.ndarray, labels: np.ndarray, candidates, spacing_xyz) -> np.ndarray:
    """(N, len(PATCH_CHANNELS), PATCH_PX, PATCH_PX) float32 patches of ``candidates`` (``proposals.Candidate``)."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    spacing_zyx = np.array([sz, sy, sx])
    patches = np.zeros((len(candidates), len(PATCH_CHANNELS), PATCH_PX, PATCH_PX), np.float32)
    for n, candidate in enumerate(candidates):
        centre = np.asarray(candidate.centroid_zyx, float)
        planes = [_plane_coordinates(centre, spacing_zyx, (1, 2), dz) for dz in (-sz, 0.0, sz)]
        planes += [_plane_coordinates(centre, spacing_zyx, (0, 2)), _plane_coordinates(centre, spacing_zyx, (0, 1))]
        for c, coordinates in enumerate(planes):
            values = ndimage.map_coordinates(hu, coordinates, order=1, mode="nearest")
            patches[n, c] = window_hu(values.astype(np.float32), *PATCH_WINDOW)
        for c, coordinates in enumerate((planes[1], planes[3], planes[4]), start=5):
            nearest = ndimage.map_coordinates(labels, coordinates, order=0, mode="constant", cval=0)
            patches[n, c] = nearest == candidate.label
    return patches
