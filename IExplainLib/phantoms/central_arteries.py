"""The central pulmonary arteries of a non-contrast chest CT: main, right and left pulmonary arteries and the hilar
(lobar) arteries, outside the lungs, where a CTPA shows the largest emboli.

Without contrast, blood (30-50 HU) stands out against mediastinal fat (-100 HU) but every blood-filled structure
looks the same, so the arteries are found by where they are, anchored on the carina (found by following the
trachea down from the top of the scan):
- blood-density voxels near the carina's level (from ``BAND_BELOW_MM`` below it to ``BAND_ABOVE_MM`` above);
- grown from the hila (lung vessels of at least ``HILAR_RADIUS_MM`` entering the mediastinum) inwards, for at most
  ``REACH_MM``;
- never into a thick round tube (the aorta and the superior vena cava run along the body's axis, so each slice
  cuts them as a disc; the right and left pulmonary arteries run across it);
- never into the region below, behind and medial to the carina, where the left atrium and the pulmonary veins
  that drain into it lie.
Where these rules fail (a vein that enters a hilum beside an artery, a lymph node against the pulmonary artery),
the structure is opacified as an artery: a non-contrast scan cannot tell them apart. The rest of the mediastinal
blood next to them (aorta, SVC, the roof of the heart) is returned separately so that it can be given the lower
aortic enhancement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BLOOD_RANGE_HU = (-20.0, 150.0)   # smoothed HU of blood (and soft tissue) in a non-contrast CT
FAT_HU = -100.0
BAND_BELOW_MM = 30.0
BAND_ABOVE_MM = 8.0
HILAR_RADIUS_MM = 3.0
REACH_MM = 90.0
TUBE_RADIUS_MM = 8.0
ROUNDNESS_SLACK = 1.6
OTHER_REACH_MM = 25.0
TRACHEA_AREA_MM2 = (80.0, 900.0)


@dataclass
class CentralArteries:
    arteries: np.ndarray        # bool: central and hilar pulmonary arteries outside the lungs (full volume)
    other_blood: np.ndarray     # bool: other mediastinal blood (aorta, SVC, heart) in the same region
    blood_hu: float             # median unenhanced blood HU (thick cores of the mediastinal blood)
    carina_slice: int | None    # None where the slab has no trachea at its top (no central arteries then)

    @classmethod
    def none(cls, shape) -> "CentralArteries":
        return cls(np.zeros(shape, bool), np.zeros(shape, bool), 40.0, None)


def find_carina(hu: np.ndarray, lung_air: np.ndarray, superior_last: bool, spacing_zyx) -> tuple[int, float, float] | None:
    """(slice, row, column) where the trachea, followed down from the top of the scan, splits or meets the lungs.

    The trachea is the air (below -500 HU) of the right size nearest the middle between the lungs in the top
    quarter of the slices; in 3D it joins the lungs through the bronchi, so it is followed slice by slice.
    """
    nz = hu.shape[0]
    order = range(nz - 1, -1, -1) if superior_last else range(nz)
    pixel_mm2 = spacing_zyx[1] * spacing_zyx[2]
    trachea = None
    centre_column = 0.5 * hu.shape[2]
    columns = np.flatnonzero(lung_air.any(axis=(0, 1)))
    if len(columns):
        centre_column = 0.5 * (columns[0] + columns[-1])
    previous_area = 0.0
    for step, k in enumerate(order):
        labels, count = ndimage.label(hu[k] < -500)
        if count == 0:
            if trachea is not None:
                return None
            continue
        areas = np.bincount(labels.ravel())[1:] * pixel_mm2
        if trachea is None:
            if step > nz // 4:
                return None  # no trachea at the top of this slab: it starts below the carina
            centres = ndimage.center_of_mass(np.ones_like(labels), labels, np.arange(1, count + 1))
            fits = [i for i in range(count) if TRACHEA_AREA_MM2[0] <= areas[i] <= TRACHEA_AREA_MM2[1]
                    and abs(centres[i][1] - centre_column) * spacing_zyx[2] < 35.0]
            if fits:
                best = min(fits, key=lambda i: abs(centres[i][1] - centre_column))
                trachea = labels == best + 1
                previous_area = areas[best]
            continue
        near = ndimage.binary_dilation(trachea, iterations=3)
        touching = [i for i in np.unique(labels[near]) if i]
        if not touching:
            return None
        big = [i for i in touching if areas[i - 1] >= 15.0]
        merged = sum(areas[i - 1] for i in touching) > 2.5 * previous_area
        if len(big) >= 2 or merged:
            rows, cols = np.nonzero(trachea)
            return k, float(rows.mean()), float(cols.mean())
        trachea = np.isin(labels, touching)
        previous_area = float(trachea.sum() * pixel_mm2)
    return None


def find_central_arteries(hu: np.ndarray, lungs: np.ndarray, lung_air: np.ndarray, vessels: np.ndarray,
                          vessel_radius_mm: np.ndarray, spacing_xyz, superior_last: bool) -> CentralArteries:
    """:class:`CentralArteries` of a chest CT (``hu`` as (z, y, x); masks from the lung analysis)."""
    sx, sy, sz = spacing_xyz
    spacing_zyx = (sz, sy, sx)
    carina = find_carina(hu, lung_air, superior_last, spacing_zyx)
    if carina is None:
        return CentralArteries.none(hu.shape)
    kc, rc, cc = carina
    up = 1 if superior_last else -1
    below, above = int(round(BAND_BELOW_MM / sz)), int(round(BAND_ABOVE_MM / sz))
    z0, z1 = sorted((kc - up * below, kc + up * above))
    box = (slice(max(z0, 0), min(z1 + 1, hu.shape[0])),
           slice(max(int(rc - 90 / sy), 0), min(int(rc + 50 / sy), hu.shape[1])),
           slice(max(int(cc - 110 / sx), 0), min(int(cc + 110 / sx), hu.shape[2])))
    local = hu[box].astype(np.float32)
    smooth = ndimage.gaussian_filter(local, (0.5, 1.0, 1.0))
    blood = (smooth > BLOOD_RANGE_HU[0]) & (smooth < BLOOD_RANGE_HU[1]) & ~lung_air[box]
    tubes = _round_tubes(blood, spacing_zyx)
    zz, yy, xx = np.ogrid[box]
    # Left atrium and the veins draining into it: below the carina, behind its front and near the midline.
    atrium = ((zz - kc) * up * sz < -8.0) & ((yy - rc) * sy > -25.0) & (np.abs(xx - cc) * sx < 40.0)
    allowed = blood & ~tubes & ~atrium
    seeds = vessels[box] & (vessel_radius_mm[box] >= HILAR_RADIUS_MM) & allowed
    grown = _geodesic(seeds, allowed, int(round(REACH_MM / min(sx, sy))))
    arteries = np.zeros(hu.shape, bool)
    arteries[box] = grown & ~lungs[box]
    other = np.zeros(hu.shape, bool)
    # The blood next to the arteries and tubes (the heart's roof, the left atrium's) gets the aortic enhancement:
    # where a rule above cuts continuous blood, the cut then shows as a step in enhancement, not a bright edge.
    other[box] = _geodesic(tubes | grown, blood, int(round(OTHER_REACH_MM / min(sx, sy)))) & ~arteries[box] & ~lungs[box]
    cores = ndimage.distance_transform_edt(blood, sampling=spacing_zyx) >= 4.0
    blood_hu = float(np.median(local[cores])) if cores.any() else 40.0
    return CentralArteries(arteries, other, blood_hu, int(kc))


def _round_tubes(blood: np.ndarray, spacing_zyx) -> np.ndarray:
    """Blood whose cross-section is a thick disc (the aorta and the superior vena cava run along the body's axis),
    with its edges.

    A thick core is the blood at least ``TUBE_RADIUS_MM`` in-plane from its edge; the core of a disc of radius R is a
    disc of radius R - ``TUBE_RADIUS_MM``. A core much larger than that is an oblique or branching structure cut
    along its length: the pulmonary arteries, which run across the body.
    """
    sz, sy, sx = spacing_zyx
    tubes = np.zeros_like(blood)
    for k, plane in enumerate(blood):
        depth = ndimage.distance_transform_edt(plane, sampling=(sy, sx))
        labels, count = ndimage.label(depth >= TUBE_RADIUS_MM)
        if count == 0:
            continue
        index = np.arange(1, count + 1)
        deepest = ndimage.maximum(depth, labels, index)
        area = ndimage.sum_labels(np.ones_like(depth), labels, index) * sy * sx
        disc = np.pi * (np.asarray(deepest) - TUBE_RADIUS_MM + 2.0 * sx) ** 2
        round_ones = index[np.asarray(area) <= ROUNDNESS_SLACK * disc]
        kept = np.isin(labels, round_ones)
        if kept.any():
            tubes[k] = (ndimage.distance_transform_edt(~kept, sampling=(sy, sx)) <= TUBE_RADIUS_MM + 1.0) & plane
    return tubes


def _geodesic(seeds: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Voxels of ``allowed`` reached from ``seeds`` in at most ``steps`` 6-connected moves."""
    grown = seeds & allowed
    if not grown.any():
        return grown
    return ndimage.binary_dilation(grown, iterations=steps, mask=allowed)
