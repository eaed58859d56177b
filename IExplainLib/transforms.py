"""The input transforms of the classifier, the explainer and the segmenter, each beside its inverse (as MONAI's
``Resize`` carries its ``inverse``): HU windowing, the classifier's field of view (a centred crop of each slice,
resampled to the network's size, and the way back to the CT grid) and in-plane resampling.

Windowing clips, so it has no inverse: a windowed value maps back only inside the window (:func:`hu_of_value`).
Resampling uses ``torch.nn.functional.interpolate`` with ``align_corners=False`` in both directions, so pixel edges
stay aligned: CT -> network grid -> CT covers the same field of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESIZE_MODES = ("bilinear", "antialiased", "auto")


def window_hu(values, centre: float, width: float):
    """HU -> [0, 1] over ``[centre - width / 2, centre + width / 2]`` (a NumPy array or a torch tensor, float32)."""
    low = np.float32(centre - width / 2.0)
    if isinstance(values, np.ndarray) or np.isscalar(values):
        out = (np.asarray(values, dtype=np.float32) - low) / np.float32(width)
        if np.ndim(out) == 0:
            return np.float32(min(max(float(out), 0.0), 1.0))
        return np.clip(out, 0.0, 1.0, out=out)  # in place: a whole study's float copy is large
    return ((values.float() - float(low)) / float(width)).clamp_(0.0, 1.0)


def hu_of_value(value: float, centre: float, width: float) -> float:
    """The inverse of :func:`window_hu` inside the window: the HU a windowed value in [0, 1] stands for."""
    return float(centre - width / 2.0 + float(value) * width)


def window_channels(hu, windows):
    """(Z, Y, X) HU tensor -> (Z, W, Y, X) in [0, 1], one channel per (centre, width) window."""
    import torch

    return torch.stack([window_hu(hu, centre, width) for centre, width in windows], dim=1)


def resize_in_plane(stack, shape_yx: tuple[int, int], mode: str = "bilinear", chunk: int = 32):
    """Resize every slice of ``stack`` to ``shape_yx``: a (Z, Y, X) NumPy array (float32 result, in chunks of
    ``chunk`` slices) or an (N, C, Y, X) tensor. ``bilinear``; ``antialiased``: bilinear with antialiasing when
    shrinking (area-like, no aliasing of thin vessels); ``auto``: area averaging when shrinking, bilinear when
    enlarging."""
    import torch
    import torch.nn.functional as F

    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    shape_yx = (int(shape_yx[0]), int(shape_yx[1]))

    def resized(tensor):
        height, width = tensor.shape[-2:]
        shrinking = height * width > shape_yx[0] * shape_yx[1]
        if mode == "auto" and shrinking:
            return F.interpolate(tensor, size=shape_yx, mode="area")
        antialias = mode == "antialiased" and (height > shape_yx[0] or width > shape_yx[1])
        return F.interpolate(tensor, size=shape_yx, mode="bilinear", align_corners=False, antialias=antialias)

    if isinstance(stack, torch.Tensor):
        return stack if tuple(stack.shape[-2:]) == shape_yx else resized(stack)
    array = np.asarray(stack)
    if tuple(array.shape[1:]) == shape_yx:
        return array.astype(np.float32, copy=False)
    out = np.empty((array.shape[0], *shape_yx), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, array.shape[0], chunk):  # chunks keep the float copy small
            part = torch.from_numpy(np.ascontiguousarray(array[start:start + chunk], dtype=np.float32))[:, None]
            out[start:start + chunk] = resized(part)[:, 0].numpy()
    return out


@dataclass(frozen=True)
class FieldOfView:
    """The central square of a CT slice that the classifier sees, resampled to ``size`` x ``size``.

    ``box`` = ``(y0, y1, x0, x1)`` on the CT slice (the whole slice when there is no field of view or the slice is
    smaller than it). Forward: :meth:`crop`, then :meth:`to_network`; inverse: :meth:`to_ct` (zeros outside the box).
    """

    ct_shape_yx: tuple[int, int]
    box: tuple[int, int, int, int]
    size: int

    @classmethod
    def centred(cls, shape_zyx, spacing_xyz, side_mm: float | None, size: int) -> "FieldOfView":
        """A ``side_mm`` square at the slice centre (``spacing_xyz`` None or ``side_mm`` None: the whole slice)."""
        height, width = int(shape_zyx[-2]), int(shape_zyx[-1])
        if side_mm is None or spacing_xyz is None:
            return cls((height, width), (0, height, 0, width), int(size))
        half_x = min(width, int(round(side_mm / float(spacing_xyz[0])))) // 2
        half_y = min(height, int(round(side_mm / float(spacing_xyz[1])))) // 2
        cy, cx = height // 2, width // 2
        box = (cy - half_y, cy - half_y + 2 * half_y, cx - half_x, cx - half_x + 2 * half_x)
        return cls((height, width), box, int(size))

    @property
    def box_shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.box
        return y1 - y0, x1 - x0

    def crop(self, array):
        """The box of every slice of a (..., Y, X) array or tensor."""
        y0, y1, x0, x1 = self.box
        return array[..., y0:y1, x0:x1]

    def to_network(self, cropped):
        """A cropped (N, C, y, x) tensor in [0, 1] -> (N, C, size, size), antialiased when shrinking."""
        if tuple(cropped.shape[-2:]) == (self.size, self.size):
            return cropped
        return resize_in_plane(cropped, (self.size, self.size), "antialiased").clamp_(0.0, 1.0)

    def to_ct(self, stack: np.ndarray) -> np.ndarray:
        """The inverse: a (Z, size, size) map on the network grid -> (Z, Y, X) float32 on the CT grid, bilinear,
        zero outside the box."""
        y0, y1, x0, x1 = self.box
        full = np.zeros((stack.shape[0], *self.ct_shape_yx), dtype=np.float32)
        full[:, y0:y1, x0:x1] = resize_in_plane(stack, self.box_shape, "bilinear")
        return full
