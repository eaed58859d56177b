"""Hysteresis clustering of an attribution heat map (paper 3.2).

Voxels at or above the high threshold ``h`` are kept; voxels at or above the low threshold (``h * low_ratio``) are
kept when a high voxel lies within the neighbourhood box around them (15x15x5 (x, y, z) in the paper). This is the
paper's "connected within a neighbourhood" rule, not classic connected-component hysteresis: a low voxel needs a high
voxel nearby, not a chain of low voxels to one. One ``maximum_filter`` pass over the high mask answers "is a high
voxel within the box" for every voxel at once.
"""

from __future__ import annotations

import numpy as np


def hysteresis(heat: np.ndarray, high: float, low: float, neighbourhood_zyx: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of ``heat`` (..., z, y, x): ``heat >= high``, plus ``heat >= low`` near a high voxel.

    ``neighbourhood_zyx`` are the box sizes along the last three axes (z, y, x); leading axes (a batch of windows)
    are kept apart (size 1).
    """
    from scipy.ndimage import maximum_filter

    heat = np.asarray(heat)
    if low > high:
        raise ValueError(f"low threshold {low} is above the high threshold {high}")
    if len(neighbourhood_zyx) != 3:
        raise ValueError("neighbourhood needs three sizes (z, y, x)")
    strong = heat >= high
    if not strong.any():
        return strong
    size = (1,) * (heat.ndim - 3) + tuple(int(n) for n in neighbourhood_zyx)
    near_strong = maximum_filter(strong, size=size, mode="constant", cval=False)
    return strong | ((heat >= low) & near_strong)
