"""Clots for the real-anatomy phantoms: filling defects placed by calibre in the opacified arteries of a real CT.

Each clot first gets a calibre class from ``CALIBRE_MIX`` (a CTPA's emboli are mostly segmental, a few central),
then a centreline voxel (a local maximum of the distance to the lumen's wall) in an artery of that class's calibre
(``CALIBRE_RADIUS_MM``; central clots only in the main, right or left pulmonary artery), then a shape
(``SHAPE_MIX``): occlusive (the whole lumen), partial (a central "polo mint" core or one half of the lumen, contrast
around it) or mural (a crescent against one wall). It follows the lumen by geodesic dilation for its length.
Where blood fills at least ``TRUTH_FRACTION`` of a voxel, clot density (``CLOT_HU``) replaces the simulated
enhancement in proportion to that fraction, so the real noise and partial-volume edges stay; those voxels are the
truth. A voxel mostly of lung or fat shows no defect whatever it holds, so it keeps its (partial) enhancement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CALIBRES = ("central", "lobar", "segmental", "subsegmental")
CALIBRE_MIX = {"central": 0.15, "lobar": 0.25, "segmental": 0.40, "subsegmental": 0.20}
CALIBRE_RADIUS_MM = {"central": (6.5, np.inf), "lobar": (4.0, 6.5), "segmental": (2.8, 4.0),
                     "subsegmental": (2.0, 2.8)}
LENGTH_MM = {"central": (20, 45), "lobar": (15, 35), "segmental": (12, 26), "subsegmental": (8, 16)}
SHAPE_MIX = {"central": {"occlusive": 0.1, "partial": 0.45, "mural": 0.45},
             "lobar": {"occlusive": 0.15, "partial": 0.45, "mural": 0.4},
             "segmental": {"occlusive": 0.15, "partial": 0.45, "mural": 0.4},
             "subsegmental": {"occlusive": 0.3, "partial": 0.5, "mural": 0.2}}
CLOT_HU = (20.0, 90.0)
TRUTH_FRACTION = 0.9
MIN_PARTIAL_RADIUS_MM = 2.0   # thinner lumens cannot show contrast beside a clot: their clots are occlusive
MIN_MURAL_RADIUS_MM = 3.5     # a crescent in a thinner lumen is all partial-volume edge: such clots are partial
MIN_SEED_FRACTION = 0.9       # a clot starts where the unenhanced CT shows a vessel full of blood, not an edge
OPACIFIED_HU = 180.0          # lumen that shows as contrast in a CTPA window
SUPPORT_BOX = (5, 7, 7)       # voxels (z, y, x) around a clot's seed: about the clot's 2-voxel ring
MIN_LUMEN_SUPPORT = 0.4       # share of opacified lumen in that box
MIN_CONTRAST_BESIDE = 0.3     # partial and mural clots: share of their surface that touches opacified lumen


@dataclass
class ClotSite:
    """The slab a clot goes into: its real HU, the image being built, and where the arteries are."""
    hu: np.ndarray          # float32, the real (unenhanced) CT
    enhanced: np.ndarray    # float32, the CT with contrast, changed in place
    fraction: np.ndarray    # float32, blood fraction of each voxel
    unenhanced: np.ndarray  # float32, HU of a voxel full of unenhanced blood there
    arteries: np.ndarray    # bool, the opacified arteries
    central: np.ndarray     # bool, the main, right and left pulmonary arteries (and hilar arteries) outside the lungs
    hilum: np.ndarray       # bool, the central arteries and the lung arteries that continue them (the lobar ones)
    radius: np.ndarray      # float32, distance to the lumen's wall in mm
    spacing_xyz: tuple


def draw_calibres(count: int, rng: np.random.Generator) -> list[str]:
    weights = np.array([CALIBRE_MIX[c] for c in CALIBRES])
    return [CALIBRES[int(i)] for i in rng.choice(len(CALIBRES), size=count, p=weights / weights.sum())]


def insert_clots(site: ClotSite, truth: np.ndarray, calibres: list[str], rng: np.random.Generator) -> list[dict]:
    """Clots of the given calibre classes into ``site`` (its image and ``truth`` changed in place).

    A class with no artery of its calibre in the slab gives way to the next smaller one (then to larger ones).
    """
    radius = site.radius
    # Seeds: centreline voxels (local maxima of the distance to the wall) of a lumen full of blood, preferably with
    # opacified lumen around them (a clot among partial-volume edges shows no defect).
    opacified = site.arteries & (site.enhanced >= OPACIFIED_HU)
    support = ndimage.uniform_filter(opacified.astype(np.float32), size=SUPPORT_BOX)
    centreline = (site.arteries & (radius >= ndimage.maximum_filter(radius, size=3))
                  & (radius >= CALIBRE_RADIUS_MM["subsegmental"][0]) & (site.fraction >= MIN_SEED_FRACTION))
    candidates = np.argwhere(centreline)
    r_at = radius[tuple(candidates.T)]
    in_central = site.central[tuple(candidates.T)]
    in_hilum = site.hilum[tuple(candidates.T)]
    supported = support[tuple(candidates.T)] >= MIN_LUMEN_SUPPORT
    pools, fallback_pools = {}, {}
    for calibre in CALIBRES:
        low, high = CALIBRE_RADIUS_MM[calibre]
        # Central clots sit in the main, right or left pulmonary artery, lobar ones at the hila (outside the lungs or
        # in the lung arteries that continue the central ones), segmental and smaller ones in the lungs.
        where = {"central": in_central, "lobar": in_hilum}.get(calibre, ~in_central)
        fallback_pools[calibre] = np.flatnonzero((r_at >= low) & (r_at < high) & where)
        pools[calibre] = np.flatnonzero((r_at >= low) & (r_at < high) & where & supported)
    emboli: list[dict] = []
    for wanted in calibres:
        shapes = SHAPE_MIX[wanted]
        shape = str(rng.choice(list(shapes), p=np.array(list(shapes.values()))))
        # The drawn class and shape; the drawn class occlusive (no seed with enough contrast beside a partial clot);
        # then smaller classes, then larger ones. A slab where no seed has opacified lumen around it (a thin slab
        # without the hila) takes the best seeds it has.
        others = CALIBRES[CALIBRES.index(wanted) + 1:] + CALIBRES[:CALIBRES.index(wanted)][::-1]
        tries = [(wanted, shape), (wanted, "occlusive")] + [(calibre, shape) for calibre in others]
        for pool_set in (pools, fallback_pools):
            embolus = next((found for calibre, form in tries if (found := _try_clot(
                site, opacified, truth, calibre, form, candidates, pool_set[calibre], len(emboli) + 1, rng))), None)
            if embolus is not None:
                emboli.append(embolus)
                break
    return emboli


def _try_clot(site: ClotSite, opacified, truth, calibre, drawn_shape, candidates, pool, label, rng,
              attempts: int = 25) -> dict | None:
    sx, sy, sz = site.spacing_xyz
    for _attempt in range(attempts if len(pool) else 0):
        seed_voxel = candidates[int(rng.choice(pool))]
        if truth[tuple(seed_voxel)]:
            continue
        length = float(rng.uniform(*LENGTH_MM[calibre]))
        lumen, region = _grow_clot(site.arteries, seed_voxel, length, site.spacing_xyz)
        r0 = float(site.radius[tuple(seed_voxel)])
        shape = drawn_shape
        if r0 < MIN_PARTIAL_RADIUS_MM:
            shape = "occlusive"
        elif shape == "mural" and r0 < MIN_MURAL_RADIUS_MM:
            shape = "partial"
        local_seed = seed_voxel - [s.start for s in region]
        clot = _shaped(lumen, site.radius[region], r0, local_seed, shape, rng, np.array([sz, sy, sx]))
        clot &= truth[region] == 0
        # Judged on the smoothed fraction: noise alone would leave holes of enhancement inside a clot.
        shown = clot & (ndimage.gaussian_filter(site.fraction[region], 0.7) >= TRUTH_FRACTION)
        if shown.sum() < 12 or np.count_nonzero(shown.any(axis=(1, 2))) < 2:
            continue
        if shape != "occlusive" and _contrast_beside(shown, opacified[region] & lumen) < MIN_CONTRAST_BESIDE:
            continue
        clot_hu = float(rng.uniform(*CLOT_HU))
        truth[region][shown] = label
        local = site.enhanced[region]
        # Clot density replaces the enhancement; the voxel keeps its real noise and partial-volume edge. Voxels
        # mostly of lung or fat keep theirs: dark in any mediastinal window either way, and no defect to see.
        local[shown] = site.hu[region][shown] + site.fraction[region][shown] * (clot_hu - site.unenhanced[region][shown])
        return {"embolus": label, "level": calibre, "calibre": calibre, "shape": shape,
                "occlusive": shape == "occlusive", "voxels": int(shown.sum()), "hu": round(clot_hu, 1),
                "length_mm": round(length, 1), "radius_mm": round(r0, 2), "seed_voxel": seed_voxel}
    return None


def _grow_clot(arteries, seed_voxel, length_mm, spacing_xyz):
    """Lumen voxels within about ``length/2`` mm of the seed along the artery (geodesic dilation in a box)."""
    sx, sy, sz = spacing_xyz
    half = length_mm / 2
    reach = np.ceil(np.array([half / sz, half / sy, half / sx])).astype(int) + 2
    low = np.maximum(seed_voxel - reach, 0)
    high = np.minimum(seed_voxel + reach + 1, arteries.shape)
    region = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    lumen = arteries[region]
    grown = np.zeros_like(lumen)
    grown[tuple(seed_voxel - low)] = True
    # Enough 6-connected steps that the Euclidean half-length below, not the steps' diamond, bounds the clot.
    steps = max(1, int(round(1.8 * half / min(sx, sy))))
    grown = ndimage.binary_dilation(grown, iterations=steps, mask=lumen)
    # Keep it within the physical half-length (dilation steps are in in-plane voxels, slices are thicker).
    zz, yy, xx = np.ogrid[region]
    d2 = ((zz - seed_voxel[0]) * sz) ** 2 + ((yy - seed_voxel[1]) * sy) ** 2 + ((xx - seed_voxel[2]) * sx) ** 2
    return grown & (d2 <= half * half), region


def _shaped(lumen, radius_local, r0, seed_local, shape, rng, spacing_zyx):
    """The clot of ``shape`` within a length of ``lumen``: all of it, a core or half of it, or a wall crescent."""
    if shape == "occlusive":
        return lumen
    if shape == "partial" and rng.random() < 0.6:
        return lumen & (radius_local >= float(rng.uniform(0.35, 0.55)) * r0)   # polo mint: contrast all around
    points = np.argwhere(lumen) * spacing_zyx
    if len(points) < 4:
        return lumen
    axis = np.linalg.svd(points - points.mean(axis=0), full_matrices=False)[2][0]
    normal = np.cross(axis, rng.normal(size=3))
    normal /= np.linalg.norm(normal) + 1e-9
    zz, yy, xx = np.indices(lumen.shape)
    across = ((np.stack([zz, yy, xx], -1) - seed_local) * spacing_zyx) @ normal
    if shape == "partial":
        return lumen & (across > 0.15 * r0)   # eccentric: one half of the lumen
    # Mural: a crescent against the wall on one side, the lumen's centre left open.
    return lumen & (across > 0.2 * r0) & (radius_local <= float(rng.uniform(0.4, 0.65)) * r0)


def _contrast_beside(clot: np.ndarray, lumen: np.ndarray) -> float:
    """Share of the clot's surface (the voxels just outside it, 6-connected) that is opacified lumen."""
    edge = ndimage.binary_dilation(clot) & ~clot
    return float(lumen[edge].mean()) if edge.any() else 0.0
