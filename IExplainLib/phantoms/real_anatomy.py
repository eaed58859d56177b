"""Real-anatomy phantoms: simulated arterial contrast and clots inserted into a real (non-contrast) chest CT.

Steps: body and lung masks from thresholds; lung vessels are the soft-tissue voxels inside the (hole-filled) lungs,
without nodules or tumours (anything thicker than a lobar artery); a smooth random field splits the vessels into
arterial territories (full enhancement, where clots go) and venous-like ones (less: a non-contrast CT cannot tell
arteries from veins, and the lower-enhancing vessels are what a PE detector must learn to ignore). Enhancement is
added in proportion to each voxel's partial-volume vessel fraction, so the real noise and edges are kept. A clot
grows from a centreline voxel (a local maximum of the distance to the vessel wall) along the lumen, by geodesic
dilation inside the artery; partial clots keep the central core (polo mint) or one half (eccentric).
The truth is exactly the set of voxels given clot density.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..volume import Volume
from .anatomy import smooth_noise
from .labels import boxes_from_truth, slice_labels
from .scanner import Contrast
from .study import SyntheticStudy, study_uid_for

LEVEL_RADIUS_MM = {"lobar": (4.0, 9.0), "segmental": (2.4, 4.0), "subsegmental": (1.4, 2.4)}
LEVEL_WEIGHTS = {"lobar": 0.3, "segmental": 0.45, "subsegmental": 0.25}
LENGTH_MM = {"lobar": (15, 35), "segmental": (12, 26), "subsegmental": (8, 16)}
OCCLUSIVE_P = {"lobar": 0.3, "segmental": 0.5, "subsegmental": 0.85}


@dataclass
class AnatomyAnalysis:
    ct: Volume
    lungs: np.ndarray      # bool, hole-filled lungs
    vessels: np.ndarray    # bool, lung vessels (tumours/nodules removed)
    radius_mm: np.ndarray  # float32, distance to the vessel wall (0 outside vessels)
    vessel_hu: float       # typical unenhanced vessel core HU


def load_anatomy(path) -> Volume:
    """A chest CT from a DICOM folder or an image file (through IExplainLib.io)."""
    from ..io import read_volume

    return read_volume(path)


def crop_slices(volume: Volume, start: int, stop: int) -> Volume:
    """Slices ``start:stop`` of a volume, with the origin moved to the first kept slice."""
    if not 0 <= start < stop <= volume.shape[0]:
        raise InputError(f"cannot crop slices {start}:{stop} of a volume with {volume.shape[0]} slices")
    origin = volume.index_to_lps((0, 0, start))
    return Volume(volume.array[start:stop], volume.spacing, tuple(origin), volume.direction.copy(),
                  dict(volume.metadata))


def analyse_anatomy(ct: Volume) -> AnatomyAnalysis:
    """Lungs and lung vessels of a chest CT (the seed-independent part; reuse it for many studies)."""
    hu = ct.array.astype(np.float32)
    if hu.shape[0] < 8:
        raise InputError(f"the anatomy CT has only {hu.shape[0]} slices; a chest CT with at least 8 is needed")
    body = _fill_slices(_largest_component(hu > -400))
    labels, count = ndimage.label((hu < -400) & body)
    if count == 0:
        raise InputError("no lungs found in the anatomy CT (is it a chest CT in HU?)")
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= max(0.15 * sizes.max(), 1000)) + 1
    air = np.isin(labels, keep)
    if air.sum() < 0.01 * hu.size:
        raise InputError("the lungs found in the anatomy CT are too small: a chest CT covering the lungs is needed")
    lungs = np.zeros_like(air)
    vessels = np.zeros_like(air)
    radius = np.zeros(hu.shape, np.float32)
    box = ndimage.find_objects(air.astype(np.uint8))[0]
    box = tuple(slice(max(b.start - 8, 0), b.stop + 8) for b in box)
    sx, sy, sz = ct.spacing
    in_plane = (1e4, sy, sx)  # a huge z step turns the 3D distance transform into per-slice 2D ones
    # Closing (6 mm, in-plane) pulls the hilar vessels, which indent the lung surface, into the lung mask.
    grown = ndimage.distance_transform_edt(~air[box], sampling=in_plane) <= 6.0
    closed = ndimage.distance_transform_edt(grown, sampling=in_plane) > 6.0
    filled = _fill_slices(closed | air[box]) & body[box]
    lungs[box] = filled
    local_hu = hu[box]
    candidate = filled & (local_hu > -450) & (local_hu < 400)  # no bone, no metal
    spacing_zyx = (sz, sy, sx)
    local_radius = ndimage.distance_transform_edt(candidate, sampling=spacing_zyx).astype(np.float32)
    # Nodules, tumours and mediastinal tissue: anything thicker than a lobar artery, grown back to its edges.
    core = local_radius > 7.0
    if core.any():
        candidate &= ~(ndimage.distance_transform_edt(~core, sampling=spacing_zyx) <= 9.0)
    candidate = _drop_small(candidate, 15)
    vessels[box] = candidate
    radius[box] = np.where(candidate, local_radius, 0)
    core_hu = hu[vessels & (radius >= 2.0)]
    vessel_hu = float(np.median(core_hu)) if core_hu.size else 40.0
    return AnatomyAnalysis(ct, lungs, vessels, radius, max(vessel_hu, 0.0))


def make_real_anatomy_study(ct: Volume | AnatomyAnalysis, seed: int, n_emboli: int | None = None,
                            negative: bool | None = None, slices: int | None = None) -> SyntheticStudy:
    """A CTPA-like study from a real chest CT: contrast and ``n_emboli`` clots inserted, exact truth.

    ``slices`` crops a slab of that many consecutive slices (placed by the seed, within the lungs).
    """
    analysis = ct if isinstance(ct, AnatomyAnalysis) else analyse_anatomy(ct)
    rng = np.random.default_rng([int(seed), 101])
    if negative and n_emboli:
        raise InputError("a negative study cannot have emboli (negative=True with n_emboli > 0)")
    if negative is None:
        negative = (n_emboli == 0) if n_emboli is not None else bool(rng.random() < 0.3)
    count = 0 if negative else int(n_emboli or rng.choice([1, 1, 2, 2, 3, 4]))
    window = _slab(analysis, slices, rng)
    ct_volume = analysis.ct
    hu = ct_volume.array[window].astype(np.float32)
    lungs, vessels, radius = analysis.lungs[window], analysis.vessels[window], analysis.radius_mm[window]
    contrast = Contrast.random(np.random.default_rng([int(seed), 102]))

    # Arterial versus venous-like territories: a smooth random field over the lungs.
    field = smooth_noise(hu.shape, np.random.default_rng([int(seed), 103]), (4, 24, 24), 1.0)
    arteries = vessels & (field > -0.35)
    veins = vessels & ~arteries
    fraction = _vessel_fraction(hu, lungs, analysis.vessel_hu)
    near_artery = ndimage.binary_dilation(arteries, iterations=1)
    near_vein = ndimage.binary_dilation(veins, iterations=1) & ~near_artery
    enhanced = hu.copy()
    enhanced += near_artery * fraction * (contrast.lumen_hu - analysis.vessel_hu)
    enhanced += near_vein * fraction * (contrast.vein_hu - analysis.vessel_hu)

    truth = np.zeros(hu.shape, np.uint8)
    emboli = []
    if count:
        emboli = _insert_clots(hu, enhanced, truth, arteries, radius, fraction, analysis, count, rng,
                               ct_volume.spacing)
        if not emboli:
            raise InputError("no artery in this slab is large enough for a clot; use more slices")
    image = np.clip(np.rint(enhanced), -1024, 3071).astype(np.int16)
    origin = ct_volume.index_to_lps((0, 0, window[0].start))
    uid = study_uid_for("real-anatomy", ct_volume.metadata.get("SeriesInstanceUID", ct_volume.describe()), seed,
                        window[0].start, window[0].stop, n_emboli, negative)
    volume = Volume(image, ct_volume.spacing, tuple(origin), ct_volume.direction.copy(),
                    {"source": "iexplain real-anatomy CTPA", "seed": int(seed), "study_uid": uid,
                     "anatomy_source": str(ct_volume.metadata.get("source_path", ct_volume.describe())),
                     "slab": [window[0].start, window[0].stop]})
    return SyntheticStudy(volume=volume, truth=truth, vessels=arteries, slice_labels=slice_labels(truth),
                          boxes=boxes_from_truth(truth), emboli=emboli, study_uid=uid, seed=int(seed),
                          contrast={**contrast.as_dict(), "flow_artifact": False, "unenhanced_vessel_hu":
                                    round(analysis.vessel_hu, 1)},
                          scanner={"noise_sd": None, "blur_mm": None, "note": "real scanner noise kept"},
                          kind="real-anatomy")


def _slab(analysis: AnatomyAnalysis, slices: int | None, rng) -> tuple[slice, slice, slice]:
    nz = analysis.ct.shape[0]
    if slices is None or slices >= nz:
        return (slice(0, nz), slice(None), slice(None))
    if slices < 8:
        raise InputError(f"--slices must be at least 8, got {slices}")
    per_slice = analysis.vessels.reshape(nz, -1).sum(axis=1).astype(float)
    totals = np.convolve(per_slice, np.ones(slices), mode="valid")
    good = np.flatnonzero(totals >= 0.7 * totals.max())
    start = int(rng.choice(good))
    return (slice(start, start + slices), slice(None), slice(None))


def _vessel_fraction(hu, lungs, vessel_hu) -> np.ndarray:
    """Partial-volume vessel fraction per voxel: 0 at lung parenchyma density, 1 at vessel (blood) density."""
    parenchyma = float(np.median(hu[lungs & (hu < -600)])) if (lungs & (hu < -600)).any() else -850.0
    return np.clip((hu - parenchyma) / max(vessel_hu - parenchyma, 1.0), 0.0, 1.0).astype(np.float32)


def _insert_clots(hu, enhanced, truth, arteries, radius, fraction, analysis, count, rng, spacing_xyz):
    sx, sy, sz = spacing_xyz
    centreline = arteries & (radius >= ndimage.maximum_filter(radius, size=3)) & (radius > 1.3)
    candidates = np.argwhere(centreline)
    r_at = radius[tuple(candidates.T)]
    levels = list(LEVEL_WEIGHTS)
    weights = np.array([LEVEL_WEIGHTS[lv] for lv in levels])
    emboli = []
    for _attempt in range(count * 15):
        if len(emboli) == count:
            break
        level = levels[int(rng.choice(len(levels), p=weights / weights.sum()))]
        low, high = LEVEL_RADIUS_MM[level]
        pool = np.flatnonzero((r_at >= low) & (r_at < high))
        if not len(pool):
            continue
        seed_voxel = candidates[int(rng.choice(pool))]
        if truth[tuple(seed_voxel)]:
            continue
        length = float(rng.uniform(*LENGTH_MM[level]))
        clot, region = _grow_clot(arteries, seed_voxel, length, spacing_xyz)
        r0 = float(radius[tuple(seed_voxel)])
        occlusive = bool(rng.random() < OCCLUSIVE_P[level]) or r0 * 0.7 < 1.4
        if not occlusive:
            clot = _partial(clot, radius[region], r0, seed_voxel - [s.start for s in region], rng,
                            np.array([sz, sy, sx]))
        clot &= truth[region] == 0
        if clot.sum() < 12 or np.count_nonzero(clot.any(axis=(1, 2))) < 2:
            continue
        k = len(emboli) + 1
        truth[region][clot] = k
        clot_hu = float(rng.uniform(22, 78))
        local = enhanced[region]
        frac = fraction[region][clot]
        # Clot density replaces the enhancement; the voxel keeps its real noise and partial-volume edge.
        local[clot] = hu[region][clot] + np.maximum(frac, 0.6) * (clot_hu - analysis.vessel_hu)
        side = "right" if analysis.ct.index_to_lps(seed_voxel[::-1])[0] < _midline_x(analysis) else "left"
        emboli.append({"embolus": k, "level": level, "side": side, "occlusive": occlusive,
                       "voxels": int(clot.sum()), "hu": round(clot_hu, 1), "length_mm": round(length, 1),
                       "radius_mm": round(r0, 2)})
    return emboli


def _midline_x(analysis: AnatomyAnalysis) -> float:
    """LPS x of the midline between the lungs (patient's right has the lower x)."""
    columns = np.flatnonzero(analysis.lungs.any(axis=(0, 1)))
    centre_column = 0.5 * (columns[0] + columns[-1]) if len(columns) else analysis.ct.shape[2] / 2
    return float(analysis.ct.index_to_lps((centre_column, 0, 0))[0])


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
    steps = max(1, int(round(half / min(sx, sy))))
    grown = ndimage.binary_dilation(grown, iterations=steps, mask=lumen)
    # Keep it within the physical half-length (dilation steps are in in-plane voxels, slices are thicker).
    zz, yy, xx = np.ogrid[[slice(int(a), int(b)) for a, b in zip(low, high)]]
    d2 = ((zz - seed_voxel[0]) * sz) ** 2 + ((yy - seed_voxel[1]) * sy) ** 2 + ((xx - seed_voxel[2]) * sx) ** 2
    return grown & (d2 <= half * half), region


def _partial(clot, radius_local, r0, seed_local, rng, spacing_zyx):
    """Central core (polo mint) or one half (eccentric, mural) of an occlusive clot."""
    if rng.random() < 0.4:
        return clot & (radius_local >= 0.45 * r0)
    points = np.argwhere(clot) * spacing_zyx
    if len(points) < 4:
        return clot
    centred = points - points.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    normal = np.cross(axis, rng.normal(size=3))
    normal /= np.linalg.norm(normal) + 1e-9
    zz, yy, xx = np.indices(clot.shape)
    offset = (np.stack([zz, yy, xx], -1) - seed_local) * spacing_zyx
    return clot & ((offset @ normal) > 0.15 * r0)


def _largest_component(mask):
    labels, count = ndimage.label(mask)
    if count == 0:
        raise InputError("no body found in the anatomy CT (is it a CT in HU?)")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _fill_slices(mask):
    return np.stack([ndimage.binary_fill_holes(plane) for plane in mask])


def _drop_small(mask, min_voxels):
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[labels]
