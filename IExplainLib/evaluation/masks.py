"""Reading masks for evaluation and refusing pairs that do not overlay voxel for voxel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .cases import mask_suffix

GEOMETRY_TOLERANCE_MM = 1e-3


def read_mask(path: str | Path) -> Volume:
    """A label volume: a ``.seg.nrrd`` becomes the union of its segments (any segment counts as PE, value 1);
    a NIfTI / NRRD / MHA labelmap keeps its values (instance ids stay ids)."""
    path = Path(path)
    if mask_suffix(path) == ".seg.nrrd":
        from ..io import read_segmentation

        volume, _segments = read_segmentation(path)  # overlapping layers come flattened: the union is kept
        array = np.asarray(volume.array)
        return Volume((array > 0).astype(np.uint8), volume.spacing, volume.origin, volume.direction,
                      {"source": str(path)})
    from ..io import read_volume

    volume = read_volume(path)
    array = volume.array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.mod(array, 1) == 0):
            raise InputError(f"{path} holds non-integer values: a mask must be a labelmap (0 / 1 or ids), "
                             "not a probability or heat map")
        array = array.astype(np.int32)
    return volume.with_array(array, source=str(path))


def require_same_grid(prediction: Volume, truth: Volume, prediction_path, truth_path) -> None:
    """One-line refusal when the prediction does not overlay the truth (shape, spacing, origin or direction)."""
    if prediction.shape != truth.shape:
        raise InputError(f"geometry mismatch: {prediction_path} is {_xyz(prediction.shape)} voxels but "
                         f"{truth_path} is {_xyz(truth.shape)}")
    if not prediction.same_grid(truth, tolerance=GEOMETRY_TOLERANCE_MM):
        raise InputError(f"geometry mismatch: {prediction_path} ({prediction.describe()}) does not overlay "
                         f"{truth_path} ({truth.describe()})")


def _xyz(shape) -> str:
    z, y, x = shape
    return f"{x}x{y}x{z} (x, y, z)"
