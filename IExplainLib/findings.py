"""Findings: connected clusters of a mask, and the paper's cluster filters (size, distance from the image centre).

The paper's thresholds (100 voxels, 160 px) are defined on 512x512 slices. Volumes with another in-plane size are
filtered with thresholds scaled to the same physical fraction of the field of view (``reference_size``), so that a
256x256 test volume is filtered like the full-size study it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # 26-neighbourhood: diagonal touches are one embolus
REFERENCE_SIZE = 512
# A reducer's scores crowd near 1 (the bundled one keeps findings from 0.9976, session 24's from 0.9998): at two
# decimals every finding and the threshold itself would read 1.00
SCORE_DECIMALS = 4


def score_text(score: float) -> str:
    """A candidate's reducer score (or a reducer's threshold) as segment names, tables and summaries show it."""
    return f"{float(score):.{SCORE_DECIMALS}f}"


def label_findings(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components (26-connected) of a (z, y, x) mask: ``(labels, count)``."""
    from scipy import ndimage

    labels, count = ndimage.label(np.asarray(mask) > 0, structure=FULL_CONNECTIVITY)
    return labels, int(count)


@dataclass
class Finding:
    label: int
    voxels: int
    centroid_zyx: tuple[float, float, float]
    slice_range: tuple[int, int]
    bbox_zyx: tuple[slice, slice, slice]


def describe_findings(labels: np.ndarray) -> list[Finding]:
    """Size, centroid, slice range and bounding box of each labelled cluster."""
    from scipy import ndimage

    found = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        local = labels[box] == index
        coords = np.argwhere(local).astype(float)
        centroid = tuple(coords.mean(axis=0) + [s.start for s in box])
        found.append(Finding(index, int(local.sum()), centroid, (box[0].start, box[0].stop - 1), box))
    return found


def filter_findings(mask: np.ndarray, min_voxels: int = 100, max_center_distance_px: float = 160.0,
                    reference_size: int | None = REFERENCE_SIZE) -> np.ndarray:
    """Drop clusters smaller than ``min_voxels`` or whose centroid lies farther than ``max_center_distance_px``
    (in-plane, 2D) from the image centre. Returns a boolean mask of the clusters kept."""
    mask = np.asarray(mask) > 0
    labels, count = label_findings(mask)
    if count == 0:
        return mask
    height, width = mask.shape[1:]
    scale = 1.0 if reference_size is None else max(height, width) / reference_size
    size_limit = min_voxels * scale * scale
    distance_limit = max_center_distance_px * scale
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    keep = np.zeros(count + 1, dtype=bool)
    for finding in describe_findings(labels):
        distance = float(np.linalg.norm(np.array(finding.centroid_zyx[1:]) - centre))
        keep[finding.label] = finding.voxels >= size_limit and distance <= distance_limit
    return keep[labels]
