"""Filling defects found from HU alone: clot-density cores that touch opacified lumen and are not bone.

A pulmonary embolus is a filling defect: tissue of clot density (about 20-90 HU; lower with partial volume) inside an
artery whose lumen is filled with contrast (250-450 HU in a CTPA). A *core* is a connected piece of clot-density voxels
(``CLOT_HU``) after an in-plane opening, which removes the thin partial-volume rims every opacified vessel has at its
border with lung. Its *shell* is the ring of voxels ``SHELL_MM`` around it (in-plane, plus the slices above and
below). A core is a defect when it holds at least ``MIN_CORE_MM3``, at least ``MIN_LUMEN_SHARE`` of its shell is
lumen (occlusive and eccentric clots touch lumen only at their ends or on one side, hence the low share) and at most
``MAX_BONE_SHARE`` is bone. Thresholds were chosen on tuning phantoms (seeds 8000-8999), never on held-out ones.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morphology import box_of, dilate, erode

CLOT_HU = (-150.0, 180.0)
LUMEN_HU = (180.0, 700.0)
BONE_HU = 700.0
SHELL_MM = 2.0
MIN_LUMEN_SHARE = 0.05
MAX_BONE_SHARE = 0.05
MIN_CORE_MM3 = 30.0


def _shell_structure(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    ball = np.zeros((3, 2 * radius + 1, 2 * radius + 1), bool)
    ball[1] = x * x + y * y <= radius * radius
    ball[0, radius, radius] = ball[2, radius, radius] = True
    return ball


def core_features(mask: np.ndarray, hu: np.ndarray, spacing_xyz, keep_unopened: np.ndarray | None = None,
                  min_mm3: float = 0.0):
    """``(cores, rows)``: labelled clot-density cores of the clusters of ``mask`` (thin partial-volume rims at vessel
    edges opened away) and per core ``{"label", "mm3", "lumen_share", "bone_share"}`` of its surrounding shell.
    Clot-density voxels of ``mask`` inside ``keep_unopened`` are kept even where the opening would remove them.
    ``min_mm3`` leaves the rows of smaller cores out (a caller that drops them anyway need not measure their shells)."""
    cores, rows, _ = cores_and_boxes(mask, hu, spacing_xyz, keep_unopened, min_mm3)
    return cores, rows


def cores_and_boxes(mask: np.ndarray, hu: np.ndarray, spacing_xyz, keep_unopened: np.ndarray | None = None,
                    min_mm3: float = 0.0):
    """:func:`core_features` and each core's box (``ndimage.find_objects`` of the cores)."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    radius = max(1, int(round(SHELL_MM / min(sx, sy))))
    cores = np.zeros(np.shape(mask), np.int32)
    # every step reads at most a shell's reach around the mask: work in its box (a chest region fills about a third
    # of a CT's box) and give the cores back at full size
    within = box_of(mask, (1, radius, radius))
    if within is None:
        return cores, [], []
    mask, hu = np.asarray(mask)[within], np.asarray(hu)[within]
    clot = mask & (hu >= CLOT_HU[0]) & (hu <= CLOT_HU[1])
    in_plane = np.zeros((1, 3, 3), bool)
    in_plane[0, 1, :] = in_plane[0, :, 1] = True
    opened = dilate(erode(clot, in_plane), in_plane)  # ndimage.binary_opening's voxels, several times faster
    clot = opened | (clot & keep_unopened[within]) if keep_unopened is not None else opened
    local, count = ndimage.label(clot, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(local[local > 0], minlength=count + 1)  # the background's count is never read
    ball = _shell_structure(radius)
    rows = []
    boxes = ndimage.find_objects(local)
    for index, box in enumerate(boxes, start=1):
        if box is None:
            continue
        mm3 = float(sizes[index] * sx * sy * sz)
        if mm3 < min_mm3:
            continue
        grown = tuple(slice(max(0, s.start - r), s.stop + r) for s, r in zip(box, (1, radius, radius)))
        core = local[grown] == index
        values = hu[grown][dilate(core, ball) & ~core]
        rows.append({"label": index, "mm3": mm3,
                     "lumen_share": float(np.mean((values >= LUMEN_HU[0]) & (values <= LUMEN_HU[1])))
                     if values.size else 0.0,
                     "bone_share": float(np.mean(values > BONE_HU)) if values.size else 0.0})
    cores[within] = local
    offset = [s.start for s in within]
    boxes = [None if box is None else tuple(slice(s.start + o, s.stop + o) for s, o in zip(box, offset))
             for box in boxes]
    return cores, rows, boxes


def is_defect(row: dict) -> bool:
    return (row["mm3"] >= MIN_CORE_MM3 and row["lumen_share"] >= MIN_LUMEN_SHARE
            and row["bone_share"] <= MAX_BONE_SHARE)


def defect_mask(within: np.ndarray, hu: np.ndarray, spacing_xyz) -> np.ndarray:
    """Boolean mask of the cores inside ``within`` that pass :func:`is_defect`."""
    cores, rows = core_features(np.asarray(within) > 0, hu, spacing_xyz)
    keep = np.zeros(max([r["label"] for r in rows], default=0) + 1, bool)
    for row in rows:
        keep[row["label"]] = is_defect(row)
    return keep[cores]
