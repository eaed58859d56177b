"""Which findings to keep: the paper's filters, and two filters from the CT itself (beyond the paper).

* ``location="centre"`` (the paper): drop clusters under a size and those whose centroid lies farther than a fixed
  distance from the image centre. Vertebrae, the heart and the aorta lie near the centre and pass.
* ``location="chest"``: the same size rule, but a cluster must lie mostly (``CHEST_SHARE``) inside the chest region
  found from HU (lungs and mediastinum without bone, ``IExplainLib.chest_region``) instead of near the centre.
* ``defect_check``: a pulmonary embolus is a filling defect: clot-density voxels inside an opacified artery. Each
  cluster is cut down to its *core* (voxels of clot density, ``CLOT_HU``), and kept only when the core is large enough
  and its surrounding shell is mostly contrast-filled lumen (``LUMEN_HU``) and hardly bone. Partial volume with lung at
  thick slices lowers a small clot's density, hence the wide clot range. What is kept is the core, so a finding is
  the defect itself, not the heat map's blob around it.

No trained model is involved. ``keep_findings`` is the one entry point: detection, the segmenter and the evaluation
runs all call it, so what is measured is what ``iexplain detect`` writes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .findings import filter_findings, label_findings

LOCATIONS = ("centre", "chest")
CHEST_SHARE = 0.5
CLOT_HU = (-150.0, 180.0)
LUMEN_HU = (180.0, 700.0)
BONE_HU = 700.0
SHELL_MM = 2.0
MIN_LUMEN_SHARE = 0.05
MAX_BONE_SHARE = 0.05
MIN_CORE_MM3 = 30.0


def _size_only(mask: np.ndarray, params) -> np.ndarray:
    return filter_findings(mask, params.min_cluster_voxels, float("inf"), params.reference_size)


def _inside_chest(mask: np.ndarray, hu: np.ndarray, spacing_xyz) -> np.ndarray:
    from .chest_region import chest_region

    labels, count = label_findings(mask)
    if count == 0:
        return mask
    region = chest_region(hu, spacing_xyz)
    voxels = ndimage.sum(np.ones_like(labels), labels, np.arange(1, count + 1))
    inside = ndimage.sum(region, labels, np.arange(1, count + 1))
    keep = np.zeros(count + 1, bool)
    keep[1:] = inside >= CHEST_SHARE * np.maximum(voxels, 1)
    return keep[labels]


def _shell_structure(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    ball = np.zeros((3, 2 * radius + 1, 2 * radius + 1), bool)
    ball[1] = x * x + y * y <= radius * radius
    ball[0, radius, radius] = ball[2, radius, radius] = True
    return ball


def core_features(mask: np.ndarray, hu: np.ndarray, spacing_xyz):
    """``(cores, rows)``: labelled clot-density cores of the clusters of ``mask`` (thin partial-volume rims at vessel
    edges opened away) and per core ``{"label", "mm3", "lumen_share", "bone_share"}`` of its surrounding shell."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    radius = max(1, int(round(SHELL_MM / min(sx, sy))))
    clot = mask & (hu >= CLOT_HU[0]) & (hu <= CLOT_HU[1])
    in_plane = np.zeros((1, 3, 3), bool)
    in_plane[0, 1, :] = in_plane[0, :, 1] = True
    clot = ndimage.binary_opening(clot, structure=in_plane)
    cores, count = ndimage.label(clot, structure=np.ones((3, 3, 3), bool))
    ball = _shell_structure(radius)
    rows = []
    for index, box in enumerate(ndimage.find_objects(cores), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(0, s.start - r), s.stop + r) for s, r in zip(box, (1, radius, radius)))
        core = cores[grown] == index
        values = hu[grown][ndimage.binary_dilation(core, structure=ball) & ~core]
        rows.append({"label": index, "mm3": float(core.sum() * sx * sy * sz),
                     "lumen_share": float(np.mean((values >= LUMEN_HU[0]) & (values <= LUMEN_HU[1])))
                     if values.size else 0.0,
                     "bone_share": float(np.mean(values > BONE_HU)) if values.size else 0.0})
    return cores, rows


def is_defect(row: dict) -> bool:
    return (row["mm3"] >= MIN_CORE_MM3 and row["lumen_share"] >= MIN_LUMEN_SHARE
            and row["bone_share"] <= MAX_BONE_SHARE)


def defect_cores(mask: np.ndarray, hu: np.ndarray, spacing_xyz) -> np.ndarray:
    """The clot-density cores of the clusters of ``mask`` that pass the filling-defect check (boolean mask)."""
    mask = np.asarray(mask) > 0
    if not mask.any():
        return np.zeros(mask.shape, bool)
    cores, rows = core_features(mask, hu, spacing_xyz)
    keep = np.zeros(len(rows) + 1 if not rows else max(r["label"] for r in rows) + 1, bool)
    for row in rows:
        keep[row["label"]] = is_defect(row)
    return keep[cores]


def keep_findings(mask: np.ndarray, params, volume=None) -> np.ndarray:
    """Boolean mask of what survives the filters ``params`` asks for (``location_filter``, ``defect_check``, size
    and distance settings of :class:`~IExplainLib.explain.params.ExplainParams`). ``volume`` (the CT, HU) is needed
    by the chest location and the defect check."""
    mask = np.asarray(mask) > 0
    location = getattr(params, "location_filter", "centre")
    defect = bool(getattr(params, "defect_check", False))
    if (location == "chest" or defect) and volume is None:
        raise ValueError("the chest location filter and the defect check need the CT volume")
    if location == "centre":
        kept = filter_findings(mask, params.min_cluster_voxels, params.max_center_distance_px, params.reference_size)
    else:
        kept = _size_only(mask, params)
        kept = _inside_chest(kept, volume.array, volume.spacing) if kept.any() else kept
    if defect and kept.any():
        kept = defect_cores(kept, volume.array, volume.spacing)
    return kept
