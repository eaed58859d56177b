"""Binary dilation and erosion by a ball or a disk of a few voxels, voxel for voxel what ``scipy.ndimage`` gives.

SciPy tests every structure element at every voxel; a ball or a disk is a set of rows along x, each one run centred
on the middle column, so a running maximum (minimum) along x per run width, shifted and combined over the rows, gives
the same result in a few vectorised passes. The candidate pass dilates thousands of small boxes and closes the lumen of
whole chests with such structures: this is most of what brought ``detect --method candidates`` on a 512x512x300 study
from about 30 s to 15 s. Any other structure goes to SciPy as it is (``Testing/candidates/test_morphology.py`` holds both
to SciPy's output, at the array's edge too).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _row_runs(structure: np.ndarray) -> dict[int, list[tuple[int, int]]] | None:
    """``{half-width: [(dz, dy), ...]}`` of a symmetric 3-d structure whose every row along x is empty or one run
    centred on the middle column (a ball, a disk); None for any other structure."""
    if structure.ndim != 3 or any(n % 2 == 0 for n in structure.shape) or \
            not np.array_equal(structure, structure[::-1, ::-1, ::-1]):
        return None
    centre = np.array(structure.shape) // 2
    runs: dict[int, list[tuple[int, int]]] = {}
    for iz, iy in zip(*np.nonzero(structure.any(axis=2))):
        row = structure[iz, iy]
        half = int(row.sum()) // 2
        if not row[centre[2] - half:centre[2] + half + 1].all():
            return None
        runs.setdefault(half, []).append((int(iz - centre[0]), int(iy - centre[1])))
    return runs


_RUNS: dict[tuple, dict[int, list[tuple[int, int]]] | None] = {}


def _runs_of(structure: np.ndarray) -> dict[int, list[tuple[int, int]]] | None:
    """:func:`_row_runs`, remembered: the per-candidate loops dilate thousands of small boxes by the same few."""
    key = (structure.shape, np.asarray(structure, bool).tobytes())
    if key not in _RUNS:
        _RUNS[key] = _row_runs(np.asarray(structure, bool))
    return _RUNS[key]


def _shifted(n: int, offset: int) -> tuple[slice, slice]:
    """(target, source) slices of an axis of length ``n`` where target[i] reads source[i + offset]."""
    return (slice(0, max(0, n - offset)), slice(offset, n)) if offset >= 0 else \
        (slice(-offset, n), slice(0, max(0, n + offset)))


def _by_runs(mask: np.ndarray, structure: np.ndarray, dilate: bool, border_value: int) -> np.ndarray | None:
    """:func:`dilate` / :func:`erode` from a running maximum (minimum) along x per run width, combined over the rows:
    a few vectorised passes over the array instead of one test per structure element and voxel."""
    runs = _runs_of(structure)
    if runs is None or mask.ndim != 3:
        return None
    mask = np.asarray(mask, bool)
    out = np.full(mask.shape, not dilate, bool)
    nz, ny, nx = mask.shape
    wide = mask.copy()
    reached = 0
    for half, rows in sorted(runs.items()):
        # widen the running maximum (minimum) from the last width to this one
        for d in range(reached + 1, half + 1):
            if dilate:
                wide[:, :, d:] |= mask[:, :, :-d]
                wide[:, :, :-d] |= mask[:, :, d:]
            else:
                wide[:, :, d:] &= mask[:, :, :-d]
                wide[:, :, :-d] &= mask[:, :, d:]
                if not border_value:
                    wide[:, :, :d] = False
                    wide[:, :, max(0, nx - d):] = False
        reached = max(reached, half)
        for dz, dy in rows:
            (tz, sz), (ty, sy) = _shifted(nz, dz), _shifted(ny, dy)
            if dilate:
                out[tz, ty] |= wide[sz, sy]
            else:
                out[tz, ty] &= wide[sz, sy]
                if not border_value:  # this row reaches beyond the array (read as False) for the rest
                    uncovered = np.ones((nz, ny), bool)
                    uncovered[tz, ty] = False
                    out[uncovered] = False
    return out


def dilate(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """``ndimage.binary_dilation(mask, structure)`` (outside the array False), voxel for voxel; several times faster
    for a ball or a disk of a few voxels (see :func:`_row_runs`)."""
    out = _by_runs(mask, structure, True, 0)
    return ndimage.binary_dilation(mask, structure=structure) if out is None else out


def erode(mask: np.ndarray, structure: np.ndarray, border_value: int = 0) -> np.ndarray:
    """``ndimage.binary_erosion(mask, structure, border_value=border_value)``, voxel for voxel; as :func:`dilate`."""
    out = _by_runs(mask, structure, False, border_value)
    return ndimage.binary_erosion(mask, structure=structure, border_value=border_value) if out is None else out


def box_of(mask: np.ndarray, margin) -> tuple[slice, ...] | None:
    """The box of ``mask``'s True voxels grown by ``margin`` voxels per axis (within the array); None if it has none.
    From the mask's projections on each axis: no CT-size copy, as ``find_objects`` of a relabelled mask needs."""
    mask = np.asarray(mask)
    box = []
    for axis, m in enumerate(margin):
        along = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if not along.size:
            return None
        box.append(slice(max(0, int(along[0]) - m), min(mask.shape[axis], int(along[-1]) + 1 + m)))
    return tuple(box)


def grown_box(box: tuple[slice, ...], margin, shape) -> tuple[slice, ...]:
    """``box`` grown by ``margin`` voxels per axis, clipped to an array of ``shape``."""
    return tuple(slice(max(0, s.start - m), min(n, s.stop + m)) for s, m, n in zip(box, margin, shape))
