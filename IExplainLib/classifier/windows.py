"""2.5D input: HU windowing, in-plane resampling and the mini-volumes of consecutive slices.

A study becomes a *stack* (Z, W, S, S): every axial slice (array z order, which the readers sort by position along
the slice normal, never by InstanceNumber), each HU window scaled to [0, 1], resampled in-plane to S x S. A model
input for centre slice z takes slices z-3..z+3 of the stack (for 7 slices); near the first and last slices the
missing neighbours replicate the edge slice, so every slice of a study is classified with a full-size input.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..transforms import FieldOfView, window_channels
from ..volume import Volume
from .spec import ClassifierSpec


def field_of_view(shape_zyx, spacing_xyz, spec: ClassifierSpec) -> FieldOfView:
    """The central square the classifier sees (``transforms.FieldOfView``; the whole slice when the spec has no
    field of view or the slice is smaller than it), resampled to the spec's input size."""
    return FieldOfView.centred(shape_zyx, spacing_xyz, spec.field_of_view_mm, spec.input_size)


def field_of_view_box(shape_zyx, spacing_xyz, spec: ClassifierSpec) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of :func:`field_of_view`."""
    return field_of_view(shape_zyx, spacing_xyz, spec).box


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
    used; with ``spec.region`` everything outside that region is set to 0 (the bottom of every window). Resampling
    is bilinear with antialiasing (area-like when shrinking); non-square slices are stretched to a square (CTPA
    slices are square in practice). The inverse, for maps on the stack's grid: ``field_of_view(...).to_ct``.
    """
    import torch

    array = volume.array if isinstance(volume, Volume) else np.asarray(volume)
    if array.ndim != 3 or min(array.shape) < 1:
        raise InputError(f"a study needs a (z, y, x) volume, got shape {array.shape}")
    spacing = volume.spacing if isinstance(volume, Volume) else None
    view = field_of_view(array.shape, spacing, spec)
    region = region_of(array, spacing, spec)
    parts = []
    for start in range(0, array.shape[0], chunk):  # chunks keep float copies of big studies small
        hu = torch.from_numpy(np.ascontiguousarray(view.crop(array[start:start + chunk]), dtype=np.float32))
        windowed = window_channels(hu, spec.hu_windows)
        if region is not None:
            inside = torch.from_numpy(np.ascontiguousarray(view.crop(region[start:start + chunk])))
            windowed *= inside.unsqueeze(1)
        parts.append(view.to_network(windowed))
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
