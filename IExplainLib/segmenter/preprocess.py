"""Input conventions of the segmenter: the HU window and the (coarser, in-plane only) network grid.

Resampling uses ``torch.nn.functional.interpolate`` with ``align_corners=False`` in both directions: the network
grid covers the same field of view as the CT (pixel edges aligned), so CT -> network -> CT is consistent.
"""

from __future__ import annotations

import numpy as np


def window_hu(array: np.ndarray, center: float = 100.0, width: float = 400.0) -> np.ndarray:
    """HU window ``[center - width/2, center + width/2]`` scaled to [0, 1] (float32)."""
    low = center - width / 2.0
    out = (np.asarray(array, dtype=np.float32) - np.float32(low)) / np.float32(width)
    return np.clip(out, 0.0, 1.0, out=out)


def network_inplane_shape(shape_yx: tuple[int, int], spacing_xy: tuple[float, float],
                          target_mm: float | None) -> tuple[int, int]:
    """(rows, columns) of the network grid: the CT's field of view at ``target_mm`` pixels (the network always sees
    the physical scale it was trained at, whatever the CT's matrix)."""
    rows, columns = int(shape_yx[0]), int(shape_yx[1])
    if not target_mm:
        return rows, columns
    sx, sy = float(spacing_xy[0]), float(spacing_xy[1])
    return max(1, int(round(rows * sy / target_mm))), max(1, int(round(columns * sx / target_mm)))


def resize_inplane(slices: np.ndarray, shape_yx: tuple[int, int], mode: str = "auto") -> np.ndarray:
    """Resize a (z, y, x) float stack slice by slice to ``shape_yx``. ``auto``: area averaging when shrinking (no
    aliasing of thin vessels), bilinear when enlarging."""
    import torch
    import torch.nn.functional as F

    slices = np.asarray(slices, dtype=np.float32)
    if tuple(slices.shape[1:]) == tuple(shape_yx):
        return slices
    if mode == "auto":
        shrinking = shape_yx[0] * shape_yx[1] < slices.shape[1] * slices.shape[2]
        mode = "area" if shrinking else "bilinear"
    tensor = torch.from_numpy(np.ascontiguousarray(slices))[:, None]
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    with torch.no_grad():
        out = F.interpolate(tensor, size=tuple(int(s) for s in shape_yx), mode=mode, **kwargs)
    return out[:, 0].numpy()


def to_network_image(array: np.ndarray, spacing_xy, spec) -> np.ndarray:
    """CT slices (HU) -> windowed [0, 1] slices on the network grid."""
    shape = network_inplane_shape(array.shape[1:], spacing_xy, spec.inplane_spacing_mm)
    windowed = window_hu(array, spec.hu_center, spec.hu_width)
    return resize_inplane(windowed, shape)


def to_network_label(label: np.ndarray, spacing_xy, spec) -> np.ndarray:
    """0/1 (or instance) label -> fraction of PE in each network voxel (a soft label in [0, 1])."""
    shape = network_inplane_shape(label.shape[1:], spacing_xy, spec.inplane_spacing_mm)
    return resize_inplane((np.asarray(label) > 0).astype(np.float32), shape)
