"""Input conventions of the segmenter: the HU window and the (coarser, in-plane only) network grid, through the
shared transforms (``IExplainLib/transforms.py``): ``to_network_image`` forward, ``to_ct_grid`` back; and the
optional second channel (``guidance_map`` on the CT's grid, ``to_network_input`` stacks both).
"""

from __future__ import annotations

import numpy as np

from ..transforms import resize_in_plane, window_hu


def network_inplane_shape(shape_yx: tuple[int, int], spacing_xy: tuple[float, float],
                          target_mm: float | None) -> tuple[int, int]:
    """(rows, columns) of the network grid: the CT's field of view at ``target_mm`` pixels (the network always sees
    the physical scale it was trained at, whatever the CT's matrix)."""
    rows, columns = int(shape_yx[0]), int(shape_yx[1])
    if not target_mm:
        return rows, columns
    sx, sy = float(spacing_xy[0]), float(spacing_xy[1])
    return max(1, int(round(rows * sy / target_mm))), max(1, int(round(columns * sx / target_mm)))


def to_network_image(array: np.ndarray, spacing_xy, spec) -> np.ndarray:
    """CT slices (HU) -> windowed [0, 1] slices on the network grid."""
    shape = network_inplane_shape(array.shape[1:], spacing_xy, spec.inplane_spacing_mm)
    windowed = window_hu(array, spec.hu_center, spec.hu_width)
    return resize_in_plane(windowed, shape, "auto")


def guidance_map(volume, spec) -> np.ndarray | None:
    """The spec's second channel on the CT's grid (bool, (z, y, x)), or None for a CT-only segmenter. Made from the
    whole study once: the candidates' chest region and arteries are a property of the study, not of a slab."""
    if spec.guidance is None:
        return None
    from ..candidates.proposals import find_candidates

    return find_candidates(volume).labels > 0


def to_network_input(array: np.ndarray, spacing_xy, spec, guidance: np.ndarray | None = None) -> np.ndarray:
    """CT slices (HU) and their guidance slices (if the spec reads one) -> (channels, z, y, x) on the network grid."""
    image = to_network_image(array, spacing_xy, spec)
    if spec.guidance is None:
        return image[None]
    if guidance is None or guidance.shape != array.shape:
        raise ValueError(f"a segmenter with the {spec.guidance} channel needs its map on the CT's grid")
    return np.stack([image, resize_in_plane(guidance.astype(np.float32), image.shape[1:], "auto")])


def to_network_label(label: np.ndarray, spacing_xy, spec) -> np.ndarray:
    """0/1 (or instance) label -> fraction of PE in each network voxel (a soft label in [0, 1])."""
    shape = network_inplane_shape(label.shape[1:], spacing_xy, spec.inplane_spacing_mm)
    return resize_in_plane((np.asarray(label) > 0).astype(np.float32), shape, "auto")


def to_ct_grid(network_map: np.ndarray, shape_yx: tuple[int, int]) -> np.ndarray:
    """The inverse of the network grid: a (z, y, x) map on it -> the CT's in-plane grid, bilinear."""
    return resize_in_plane(network_map, shape_yx, "bilinear")
