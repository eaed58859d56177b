"""Heat maps (attribution maps, probabilities) as float NRRD volumes in the CT's exact geometry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .images import checked_path_and_volume


def write_heatmap(path: str | os.PathLike, heatmap: Volume, overwrite: bool = False) -> Path:
    """Write a float32 ``.nrrd`` (or ``.nii.gz``/``.mha``) on the heat map's grid, atomically."""
    from .images import write_volume

    path, heatmap = checked_path_and_volume(path, heatmap)
    values = np.asarray(heatmap.array, dtype=np.float32)
    if not np.all(np.isfinite(values)):
        raise InputError("heat map has NaN or infinite values")
    return write_volume(path, heatmap.with_array(values, **heatmap.metadata), overwrite)
