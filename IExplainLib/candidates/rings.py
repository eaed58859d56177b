"""What surrounds a candidate within 6 mm, read from its patches (``patches.py``): in its axial, coronal and sagittal
plane, the ring 1-6 mm around its own voxels: the share of the ring that is opacified lumen (>= 180 HU), the share
that is lung (< -95 HU), and in how many of 8 directions around the candidate the ring holds lumen.

A clot inside an artery has lumen on every side (the polo-mint sign across the vessel, the railway-track sign along
it); a partial-volume vessel in the lung, the look-alike the hand-feature reducer ranked first on real anatomy, has
lung around it and lumen at one end at most. The hand features' shell is one to two voxels thick and counts lumen
without its direction. Experiment 23d: with these columns the held-out sensitivity at 2 false findings per study rose
on real anatomy (0.67 -> 0.73) and on phantoms (0.75 -> 0.78).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .patches import PATCH_CHANNELS, PATCH_MM, PATCH_PX, PATCH_WINDOW

RING_MM = (0.0, 6.0)        # the ring: farther than this from the candidate's voxels, up to that
RING_LUMEN_HU = 180.0       # filling_defects.LUMEN_HU's lower bound
RING_LUNG_HU = -95.0        # below fat: lung, or lung in partial volume
DIRECTIONS = 8
_PLANES = (("axial", "mask_axial"), ("coronal", "mask_coronal"), ("sagittal", "mask_sagittal"))
RING_NAMES = tuple(f"{plane}_{what}" for plane, _ in _PLANES
                   for what in ("ring_lumen", "ring_lung", "lumen_directions"))


def _windowed(hu: float) -> float:
    """The value ``patches.candidate_patches`` gives a voxel of ``hu`` (its HU window to [0, 1], unclipped)."""
    centre, width = PATCH_WINDOW
    return (hu - (centre - width / 2)) / width


_LUMEN, _LUNG = _windowed(RING_LUMEN_HU), _windowed(RING_LUNG_HU)
_ROWS, _COLUMNS = np.mgrid[:PATCH_PX, :PATCH_PX]
_CENTRE = np.zeros((PATCH_PX, PATCH_PX), bool)
_CENTRE[PATCH_PX // 2, PATCH_PX // 2] = True


def ring_features(patches: np.ndarray) -> np.ndarray:
    """(N, len(RING_NAMES)) float32 ring columns of (N, len(PATCH_CHANNELS), PATCH_PX, PATCH_PX) patches (a plane
    that misses the candidate's voxels measures around the patch's centre)."""
    columns = np.zeros((len(patches), len(RING_NAMES)), np.float32)
    for n, patch in enumerate(np.asarray(patches, np.float32)):
        for p, (plane, mask_name) in enumerate(_PLANES):
            values = patch[PATCH_CHANNELS.index(plane)]
            mask = patch[PATCH_CHANNELS.index(mask_name)] > 0.5
            if not mask.any():
                mask = _CENTRE
            distance = ndimage.distance_transform_edt(~mask) * PATCH_MM
            ring = (distance > RING_MM[0]) & (distance <= RING_MM[1])
            lumen = ring & (values >= _LUMEN)
            size = max(int(ring.sum()), 1)
            columns[n, 3 * p] = lumen.sum() / size
            columns[n, 3 * p + 1] = (ring & (values < _LUNG)).sum() / size
            centre_row, centre_column = np.argwhere(mask).mean(axis=0)
            angles = np.arctan2(_ROWS[lumen] - centre_row, _COLUMNS[lumen] - centre_column)
            sectors = ((angles + np.pi) / (2 * np.pi) * DIRECTIONS).astype(int) % DIRECTIONS
            columns[n, 3 * p + 2] = np.unique(sectors).size / DIRECTIONS
    return columns
