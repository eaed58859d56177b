"""Real-anatomy phantoms: a real (non-contrast) chest CT turned into a CT pulmonary angiogram, with clots that are
filling defects in its opacified arteries.

Steps: body and lung masks from thresholds; lung vessels are the soft-tissue voxels inside the (hole-filled) lungs,
without nodules or tumours (anything thicker than a lobar artery); the central pulmonary arteries (main, right, left
and hilar) are found in the mediastinum by anatomy (``central_arteries``). Contrast goes in from the centre
outwards: the central arteries, their lobar branches in the lungs, then the lung arteries, at one lumen value a
study with a mild gradient (``LUMEN_GRADIENT``); beyond the hila a non-contrast CT cannot tell arteries from veins,
so a smooth random field splits the lung vessels into arterial territories and venous-like ones (less enhanced:
what a PE detector must learn to ignore), and the vein share is recorded. Enhancement is added in proportion to
each voxel's blood fraction, so the real noise and partial-volume edges are kept. Clots are placed by calibre class
(``real_emboli``); the truth is the clot where blood fills most of the voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..volume import Volume
from .anatomy import smooth_noise
from .central_arteries import FAT_HU, CentralArteries, find_central_arteries
from .labels import boxes_from_truth, slice_labels
from .real_emboli import ClotSite, draw_calibres, insert_clots
from .scanner import Contrast
from .study import SyntheticStudy, study_uid_for

HILAR_REACH_MM = 20.0   # lung vessels this close (along the vessels) to the central arteries are their branches
LUMEN_GRADIENT = 0.1    # the smallest arteries are this much less enhanced than the central ones (mild)


@dataclass
class AnatomyAnalysis:
    ct: Volume
    lungs: np.ndarray      # bool, hole-filled lungs
    vessels: np.ndarray    # bool, lung vessels (tumours/nodules removed)
    radius_mm: np.ndarray  # float32, distance to the wall of the vessels and central arteries (0 outside them)
    vessel_hu: float       # typical unenhanced lung-vessel core HU
    central: CentralArteries  # main, right, left and hilar pulmonary arteries outside the lungs; aorta and SVC
    hilar: np.ndarray      # bool, lung vessels within HILAR_REACH_MM of the central arteries (always arteries)


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
    """Lungs, lung vessels and central pulmonary arteries of a chest CT (the seed-independent part; reuse it for
    many studies)."""
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
    vessel_hu = max(float(np.median(core_hu)) if core_hu.size else 40.0, 0.0)
    superior_last = bool(ct.index_to_lps((0, 0, hu.shape[0] - 1))[2] > ct.index_to_lps((0, 0, 0))[2])
    central = find_central_arteries(hu, lungs, air, vessels, radius, ct.spacing, superior_last)
    hilar = np.zeros_like(vessels)
    if central.arteries.any():
        lumen = vessels[box] | central.arteries[box]
        radius[box] = ndimage.distance_transform_edt(lumen, sampling=spacing_zyx)
        touching = ndimage.binary_dilation(central.arteries[box], iterations=1) & vessels[box]
        hilar[box] = ndimage.binary_dilation(touching, iterations=int(round(HILAR_REACH_MM / min(sx, sy))),
                                             mask=vessels[box]) if touching.any() else touching
    return AnatomyAnalysis(ct, lungs, vessels, radius, vessel_hu, central, hilar)


def make_real_anatomy_study(ct: Volume | AnatomyAnalysis, seed: int, n_emboli: int | None = None,
                            negative: bool | None = None, slices: int | None = None,
                            calibres: list[str] | None = None) -> SyntheticStudy:
    """A CTPA-like study from a real chest CT: contrast and ``n_emboli`` clots inserted, exact truth.

    ``slices`` crops a slab of that many consecutive slices (placed by the seed, within the lungs, around the
    central arteries where the CT shows them). ``calibres`` forces each clot's calibre class (central, lobar,
    segmental, subsegmental) instead of drawing it from ``CALIBRE_MIX``.
    """
    analysis = ct if isinstance(ct, AnatomyAnalysis) else analyse_anatomy(ct)
    rng = np.random.default_rng([int(seed), 101])
    if negative and (n_emboli or calibres):
        raise InputError("a negative study cannot have emboli (negative=True with n_emboli > 0)")
    if calibres is not None:
        n_emboli = len(calibres)
    if negative is None:
        negative = (n_emboli == 0) if n_emboli is not None else bool(rng.random() < 0.3)
    count = 0 if negative else int(n_emboli or rng.choice([1, 1, 2, 2, 3, 4]))
    window = _slab(analysis, slices, rng)
    ct_volume = analysis.ct
    hu = ct_volume.array[window].astype(np.float32)
    lungs, vessels, radius = analysis.lungs[window], analysis.vessels[window], analysis.radius_mm[window]
    central, other_blood = analysis.central.arteries[window], analysis.central.other_blood[window]
    contrast = Contrast.random(np.random.default_rng([int(seed), 102]))

    # Lung arteries versus veins: a non-contrast CT cannot tell them apart, so beyond the hila a smooth random field
    # splits the lung vessels into arterial territories and venous-like ones (less enhanced: what a detector must
    # learn to ignore). The hilar vessels that continue the central arteries are always arteries.
    field = smooth_noise(hu.shape, np.random.default_rng([int(seed), 103]), (4, 24, 24), 1.0)
    arteries = central | analysis.hilar[window] | (vessels & (field > -0.35))
    veins = vessels & ~arteries
    fraction, unenhanced = _blood_fraction(hu, lungs, analysis.vessel_hu, analysis.central.blood_hu)
    lumen_hu = contrast.lumen_hu * (1.0 - LUMEN_GRADIENT * (1.0 - np.clip(radius / 8.0, 0.0, 1.0)))
    near_artery = ndimage.binary_dilation(arteries, iterations=1)
    near_vein = ndimage.binary_dilation(veins, iterations=1) & ~near_artery
    near_other = ndimage.binary_dilation(other_blood, iterations=1) & ~near_artery & ~near_vein
    enhanced = hu.copy()
    enhanced += near_artery * fraction * (lumen_hu - unenhanced)
    enhanced += near_vein * fraction * (contrast.vein_hu - unenhanced)
    enhanced += near_other * fraction * (contrast.aorta_hu - unenhanced)

    truth = np.zeros(hu.shape, np.uint8)
    emboli = []
    if count:
        wanted = list(calibres) if calibres is not None else draw_calibres(count, rng)
        site = ClotSite(hu, enhanced, fraction, unenhanced, arteries, central, central | analysis.hilar[window],
                        radius, ct_volume.spacing)
        emboli = insert_clots(site, truth, wanted, rng)
        for embolus in emboli:
            embolus["side"] = _side(analysis, embolus.pop("seed_voxel"), window[0].start)
        if not emboli:
            raise InputError("no artery in this slab is large enough for a clot; use more slices")
    image = np.clip(np.rint(enhanced), -1024, 3071).astype(np.int16)
    origin = ct_volume.index_to_lps((0, 0, window[0].start))
    uid = study_uid_for("real-anatomy-ctpa", ct_volume.metadata.get("SeriesInstanceUID", ct_volume.describe()),
                        seed, window[0].start, window[0].stop, n_emboli, negative, calibres)
    volume = Volume(image, ct_volume.spacing, tuple(origin), ct_volume.direction.copy(),
                    {"source": "iexplain real-anatomy CTPA", "seed": int(seed), "study_uid": uid,
                     "anatomy_source": str(ct_volume.metadata.get("source_path", ct_volume.describe())),
                     "slab": [window[0].start, window[0].stop]})
    share = float(veins.sum() / max(vessels.sum(), 1))
    return SyntheticStudy(volume=volume, truth=truth, vessels=arteries, slice_labels=slice_labels(truth),
                          boxes=boxes_from_truth(truth), emboli=emboli, study_uid=uid, seed=int(seed),
                          contrast={**contrast.as_dict(), "flow_artifact": False, "unenhanced_vessel_hu":
                                    round(analysis.vessel_hu, 1), "unenhanced_blood_hu":
                                    round(analysis.central.blood_hu, 1), "vein_share_of_lung_vessels":
                                    round(share, 3), "central_arteries_found": bool(central.any())},
                          scanner={"noise_sd": None, "blur_mm": None, "note": "real scanner noise kept"},
                          kind="real-anatomy")


def _slab(analysis: AnatomyAnalysis, slices: int | None, rng) -> tuple[slice, slice, slice]:
    nz = analysis.ct.shape[0]
    if slices is None or slices >= nz:
        return (slice(0, nz), slice(None), slice(None))
    if slices < 8:
        raise InputError(f"--slices must be at least 8, got {slices}")
    window = np.ones(slices)
    vessel_totals = np.convolve(analysis.vessels.reshape(nz, -1).sum(axis=1).astype(float), window, mode="valid")
    good = vessel_totals >= 0.7 * vessel_totals.max()
    central_totals = np.convolve(analysis.central.arteries.reshape(nz, -1).sum(axis=1).astype(float), window,
                                 mode="valid")
    # Where the CT shows the central arteries, the slab holds most of them: that is where the largest emboli go.
    if central_totals.max() > 0 and (good & (central_totals >= 0.6 * central_totals.max())).any():
        good &= central_totals >= 0.6 * central_totals.max()
    start = int(rng.choice(np.flatnonzero(good)))
    return (slice(start, start + slices), slice(None), slice(None))


def _blood_fraction(hu, lungs, vessel_hu, blood_hu) -> tuple[np.ndarray, np.ndarray]:
    """Partial-volume blood fraction per voxel, and the unenhanced HU a voxel full of blood has there.

    In the lungs a vessel voxel mixes blood with parenchyma; in the mediastinum, with fat.
    """
    parenchyma = float(np.median(hu[lungs & (hu < -600)])) if (lungs & (hu < -600)).any() else -850.0
    # From slightly smoothed HU: the fraction multiplies the enhancement, and the scan's noise through it would
    # speckle the lumen (the noise itself stays, in the HU the enhancement is added to).
    smooth = ndimage.gaussian_filter(hu, (0.0, 0.7, 0.7))
    in_lung = np.clip((smooth - parenchyma) / max(vessel_hu - parenchyma, 1.0), 0.0, 1.0)
    in_fat = np.clip((smooth - FAT_HU) / max(blood_hu - FAT_HU, 1.0), 0.0, 1.0)
    fraction = np.where(lungs, in_lung, in_fat).astype(np.float32)
    unenhanced = np.where(lungs, np.float32(vessel_hu), np.float32(blood_hu)).astype(np.float32)
    return fraction, unenhanced


def _side(analysis: AnatomyAnalysis, voxel, slab_start: int) -> str:
    """right or left of the midline between the lungs (LPS: the patient's right has the lower x)."""
    columns = np.flatnonzero(analysis.lungs.any(axis=(0, 1)))
    centre_column = 0.5 * (columns[0] + columns[-1]) if len(columns) else analysis.ct.shape[2] / 2
    midline_x = float(analysis.ct.index_to_lps((centre_column, 0, 0))[0])
    z, y, x = (int(v) for v in voxel)
    return "right" if analysis.ct.index_to_lps((x, y, z + slab_start))[0] < midline_x else "left"


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
