"""2.5D input: HU windowing, in-plane resampling and the mini-volumes of consecutive slices.

A study becomes a *stack* (Z, W, S, S): every axial slice (array z order, which the readers sort by position along
the slice normal, never by InstanceNumber), each HU window scaled to [0, 1], resampled in-plane to S x S. A model
input for centre slice z takes slices z-3..z+3 of the stack (for 7 slices); near the first and last slices the
missing neighbours replicate the edge slice, so every slice of a study is classified with a full-size input.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .spec import ClassifierSpec


def window_hu(hu, windows):
    """(Z, Y, X) HU tensor -> (Z, W, Y, X) in [0, 1], one channel per (centre, width) window."""
    import torch

    centres = torch.tensor([c for c, _ in windows], dtype=torch.float32).view(1, -1, 1, 1)
    widths = torch.tensor([w for _, w in windows], dtype=torch.float32).view(1, -1, 1, 1)
    return ((hu.unsqueeze(1) - (centres - widths / 2)) / widths).clamp_(0.0, 1.0)


def field_of_view_box(shape_zyx, spacing_xyz, spec: ClassifierSpec) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the central square the classifier sees (the whole slice when the spec has no field
    of view or the slice is smaller than it)."""
    height, width = int(shape_zyx[1]), int(shape_zyx[2])
    if spec.field_of_view_mm is None or spacing_xyz is None:
        return 0, height, 0, width
    half_x = min(width, int(round(spec.field_of_view_mm / float(spacing_xyz[0])))) // 2
    half_y = min(height, int(round(spec.field_of_view_mm / float(spacing_xyz[1])))) // 2
    cy, cx = height // 2, width // 2
    return cy - half_y, cy - half_y + 2 * half_y, cx - half_x, cx - half_x + 2 * half_x


def region_of(array: np.ndarray, spacing_xyz, spec: ClassifierSpec) -> np.ndarray | None:
    """The (z, y, x) mask the classifier may look at (``spec.region``), or None for the whole slice."""
    if spec.region is None:
        return None
    if spacing_xyz is None:
        raise InputError(f"the classifier's region {spec.region!r} needs the CT's pixel size (pass a Volume)")
    from ..chest_region import chest_region

    return chest_region(array, spacing_xyz)


def prepare_study(volume: Volume | np.ndarray, spec: ClassifierSpec, chunk: int = 64):
    """Windowed, resampled stack (Z, W, S, S) float32 of a study (a Volume or a (z, y, x) HU array).

    With ``spec.field_of_view_mm`` (and a Volume, which knows its pixel size) only the central square of that side is
    used; with ``spec.region`` everything outside that region is set to 0 (the bottom of every window). Resampling is bilinear with antialiasing (area-like when shrinking); non-square slices are stretched to a
    square (CTPA slices are square in practice).
    """
    import torch
    import torch.nn.functional as F

    array = volume.array if isinstance(volume, Volume) else np.asarray(volume)
    if array.ndim != 3 or min(array.shape) < 1:
        raise InputError(f"a study needs a (z, y, x) volume, got shape {array.shape}")
    spacing = volume.spacing if isinstance(volume, Volume) else None
    y0, y1, x0, x1 = field_of_view_box(array.shape, spacing, spec)
    region = region_of(array, spacing, spec)
    size = spec.input_size
    parts = []
    for start in range(0, array.shape[0], chunk):  # chunks keep float copies of big studies small
        hu = torch.from_numpy(np.ascontiguousarray(array[start:start + chunk, y0:y1, x0:x1], dtype=np.float32))
        windowed = window_hu(hu, spec.hu_windows)
        if region is not None:
            inside = torch.from_numpy(np.ascontiguousarray(region[start:start + chunk, y0:y1, x0:x1]))
            windowed *= inside.unsqueeze(1)
        if windowed.shape[-2:] != (size, size):
            shrinking = windowed.shape[-1] > size or windowed.shape[-2] > size
            windowed = F.interpolate(windowed, size=(size, size), mode="bilinear", align_corners=False,
                                     antialias=shrinking).clamp_(0.0, 1.0)
        parts.append(windowed)
    return torch.cat(parts, dim=0)


def window_indices(centres, depth: int, spec: ClassifierSpec) -> np.ndarray:
    """(B, slices) z indices of the mini-volumes centred on ``centres``, edge slices replicated."""
    centres = np.asarray(centres, dtype=np.int64).reshape(-1)
    if centres.size and (centres.min() < 0 or centres.max() >= depth):
        raise IndexError(f"centre slices {centres.min()}..{centres.max()} outside a study of {depth} slices")
    offsets = np.arange(-spec.half, spec.half + 1)
    return np.clip(centres[:, None] + offsets[None, :], 0, depth - 1)


def windows_for(stack, centres, spec: ClassifierSpec):
    """(B, slices * W, S, S) model inputs centred on ``centres`` from a (Z, W, S, S) stack (window-major channels).

    ``stack`` may be a tensor or a NumPy array / memmap (only the needed slices are read); uint8 stacks are scaled
    from [0, 255] to [0, 1].
    """
    import torch

    depth, n_windows = stack.shape[0], stack.shape[1]
    if n_windows != len(spec.hu_windows):
        raise InputError(f"stack has {n_windows} HU windows, the classifier expects {len(spec.hu_windows)}")
    index = window_indices(centres, depth, spec)
    if isinstance(stack, torch.Tensor):
        picked = stack[torch.from_numpy(index).to(stack.device)]
    else:
        unique, inverse = np.unique(index, return_inverse=True)  # read each slice of a memmap once
        picked = torch.from_numpy(np.asarray(stack[unique]))[torch.from_numpy(inverse.reshape(index.shape))]
    if picked.dtype == torch.uint8:
        picked = picked.float().div_(255.0)
    else:
        picked = picked.float()
    batch, slices, windows, height, width = picked.shape
    return picked.permute(0, 2, 1, 3, 4).reshape(batch, windows * slices, height, width)
