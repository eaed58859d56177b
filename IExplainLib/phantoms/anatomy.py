"""Chest anatomy of a synthetic CTPA: body wall, ribs, spine, lungs with texture, mediastinum, heart, great vessels.

Shapes are analytic (ellipses, ellipsoids, tubes) in the chest frame of :mod:`.grid`, scaled by one patient size
factor, so the same :class:`Patient` answers "is this point in the lung?" for the vessel-tree generator and paints
the HU volume. Values follow a CTPA in the pulmonary arterial phase: the right heart is as dense as the pulmonary
arteries, the left heart and aorta less so, the superior vena cava densest (contrast inflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .grid import Grid
from .tubes import tube_mask


@dataclass(frozen=True)
class Patient:
    scale: float          # overall size factor (1 = average adult)
    fat_mm: float         # subcutaneous fat thickness
    lung_hu: float        # mean parenchyma density
    heart_shift: float    # lateral heart position (mm, towards the left)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Patient":
        return cls(scale=float(rng.uniform(0.9, 1.08)), fat_mm=float(rng.uniform(8, 30)),
                   lung_hu=float(rng.uniform(-880, -820)), heart_shift=float(rng.uniform(-5, 8)))

    # -- lungs ---------------------------------------------------------------------------------------------------
    def lung_params(self, side: int):
        """(cx, cy, ax, ay, z_top, z_shoulder, z_base, dome) of the right (side -1) or left (side +1) lung."""
        s = self.scale
        if side < 0:
            return (-80 * s, 12 * s, 64 * s, 88 * s, 105 * s, -15 * s, -150 * s, 45 * s)
        return (82 * s, 12 * s, 58 * s, 88 * s, 100 * s, -15 * s, -160 * s, 42 * s)

    def heart_params(self):
        s = self.scale
        return (np.array([22 * s + self.heart_shift, -30 * s, -95 * s]), np.array([62 * s, 52 * s, 50 * s]))

    def lung_inside(self, x, y, z, side: int | None = None):
        """Boolean (broadcast) membership of frame points in a lung (either lung when ``side`` is None)."""
        sides = (-1, 1) if side is None else (side,)
        inside = None
        for sd in sides:
            cx, cy, ax, ay, z_top, z_sh, z_base, dome = self.lung_params(sd)
            zc = np.clip((z - z_sh) / (z_top - z_sh), 0.0, 1.0)
            shrink = np.sqrt(np.clip(1.0 - zc * zc, 0.0, 1.0)) + 1e-3
            u2 = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
            floor = z_base + dome * (1.0 - np.clip(u2, 0.0, 1.0))
            inside_sd = (u2 <= shrink * shrink) & (z >= floor) & (z <= z_top)
            inside = inside_sd if inside is None else inside | inside_sd
        centre, semi = self.heart_params()
        heart = (((x - centre[0]) / (semi[0] + 7)) ** 2 + ((y - centre[1]) / (semi[1] + 7)) ** 2
                 + ((z - centre[2]) / (semi[2] + 7)) ** 2) <= 1.0
        s = self.scale
        # The mediastinum widens anteriorly; posteriorly the lungs reach deep into the paravertebral gutters.
        mediastinum = np.abs(x - 3 * s) < (20 + 16 * np.clip(-y / (80 * s), 0.0, 1.0)) * s
        spine = (x / (26 * s)) ** 2 + ((y - 72 * s) / (26 * s)) ** 2 <= 1.0
        return inside & ~heart & ~mediastinum & ~spine

    def diaphragm_z(self, x, y, side: int):
        cx, cy, ax, ay, _, _, z_base, dome = self.lung_params(side)
        u2 = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
        return z_base + dome * (1.0 - np.clip(u2, 0.0, 1.0))

    # -- landmarks the vessel trees start from --------------------------------------------------------------------
    def landmarks(self) -> dict[str, np.ndarray]:
        s = self.scale
        p = {
            "rvot": (12, -48, -62), "trunk_mid": (12, -32, -35), "bifurcation": (8, -14, -12),
            "rpa_mid": (-22, 2, -16), "r_hilum": (-52, 8, -20), "lpa_mid": (28, -2, -4), "l_hilum": (50, 12, -12),
            "la": (5, 15, -50),
        }
        return {k: np.array(v, float) * s for k, v in p.items()}


def _ellipsoid(grid: Grid, centre, semi) -> tuple[tuple, np.ndarray] | None:
    region = grid.box(np.asarray(centre) - semi, np.asarray(centre) + semi)
    if region is None:
        return None
    x, y, z = grid.local_coords(region)
    value = ((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2 + ((z - centre[2]) / semi[2]) ** 2
    return region, value


def smooth_noise(shape, rng: np.random.Generator, factor: tuple[int, int, int], sigma: float) -> np.ndarray:
    """Unit-variance smooth random field: noise on a coarse grid, blurred, then linearly upsampled axis by axis.

    Separable linear interpolation touches each output voxel a few times, which is an order of magnitude cheaper
    than ``ndimage.zoom`` on a 512x512x120 grid.
    """
    coarse_shape = tuple(max(2, -(-n // f) + 1) for n, f in zip(shape, factor))
    field = ndimage.gaussian_filter(rng.standard_normal(coarse_shape).astype(np.float32), sigma)
    field /= field.std() + 1e-6
    for axis, (n, c) in enumerate(zip(shape, coarse_shape)):
        position = np.linspace(0, c - 1, n, dtype=np.float32)
        low = np.minimum(position.astype(np.intp), c - 2)
        weight = (position - low).astype(np.float32)
        view: list[slice | None] = [None, None, None]
        view[axis] = slice(None)
        weight = weight[tuple(view)]
        field = np.take(field, low, axis=axis) * (1 - weight) + np.take(field, low + 1, axis=axis) * weight
    return field.astype(np.float32, copy=False)


# Tissue classes of the label map: (base HU, texture amplitude HU); blood-pool values come from the contrast.
TISSUES = {
    "air": (-1000, 0), "fat": (-100, 12), "muscle": (48, 10), "mediastinum": (-60, 35), "liver": (85, 8),
    "spleen": (45, 8), "rib": (380, 30), "vertebra": (260, 40), "cortex": (650, 20), "canal": (25, 5),
    "sternum": (320, 30), "lung": (0, 28), "myocardium": (45, 6), "right_blood": (0, 0), "left_blood": (0, 0),
    "left_atrium": (0, 0), "aorta": (0, 0), "svc": (0, 0), "esophagus": (40, 6), "airway_wall": (45, 5),
    "airway_air": (-1000, 0),
}
CLASS = {name: i for i, name in enumerate(TISSUES)}


def paint_anatomy(grid: Grid, patient: Patient, contrast, rng: np.random.Generator):
    """HU volume (float32) of everything but the pulmonary vessels, and the lung mask."""
    s = patient.scale
    x, y, z = grid.broadcast()
    shape = grid.shape
    label = np.zeros(shape, np.uint8)

    # Body wall: skin-fat-muscle layers as nested elliptic cylinders (slightly narrower towards the apex).
    taper = (1.0 - 0.06 * np.clip((z - 40 * s) / (80 * s), 0, 1))
    fat = patient.fat_mm
    # The thoracic cavity (inside the muscle layer) always contains the lungs; fat makes the body bigger.
    bx, by, cy = (152 * s + fat + 14) * taper, (96 * s + fat + 14) * taper, 8 * s
    x2, y2 = x * x, (y - cy) ** 2
    label[(x2 / bx ** 2 + y2 / by ** 2) <= 1.0] = CLASS["fat"]
    label[(x2 / (bx - fat) ** 2 + y2 / (by - fat) ** 2) <= 1.0] = CLASS["muscle"]
    cavity = (x2 / (bx - fat - 14) ** 2 + y2 / (by - fat - 14) ** 2) <= 1.0
    label[cavity] = CLASS["mediastinum"]

    # Below the diaphragm: liver on the right, stomach/spleen on the left.
    floor = np.where(x < 0, patient.diaphragm_z(x, y, -1), patient.diaphragm_z(x, y, 1))
    abdomen = cavity & (z < floor)
    label[abdomen & (x < 10 * s)] = CLASS["liver"]
    label[abdomen & (x >= 10 * s)] = CLASS["spleen"]

    # Ribs: a ring just outside each lung envelope, cut into obliquely descending stripes.
    for side in (-1, 1):
        cx, cyl, ax, ay, z_top, z_sh, _, _ = patient.lung_params(side)
        zc = np.clip((z - z_sh) / (z_top - z_sh), 0.0, 1.0)
        shrink = np.sqrt(np.clip(1.0 - zc * zc, 0.0, 1.0))
        u_in = ((x - cx) / (ax * shrink + 4)) ** 2 + ((y - cyl) / (ay * shrink + 4)) ** 2
        u_out = ((x - cx) / (ax * shrink + 13)) ** 2 + ((y - cyl) / (ay * shrink + 13)) ** 2
        ring = (u_in > 1.0) & (u_out <= 1.0) & cavity & (z <= z_top + 5) & (np.abs(x) > 30 * s)
        k, j, i = np.nonzero(ring)  # the stripes are evaluated on the thin ring only
        phase = grid.zs[k] - 0.45 * (cyl - grid.ys[j]) + 0.2 * np.abs(grid.xs[i])
        keep = np.cos(2 * np.pi * phase / (26 * s)) > 0.45
        label[k[keep], j[keep], i[keep]] = CLASS["rib"]

    # Spine (vertebral body, cortex, canal) and sternum: the same cross-section on every slice.
    plane = np.zeros(shape[1:], np.uint8)
    x_2d, y_2d = x[0], y[0]
    plane[(x_2d / (19 * s)) ** 2 + ((y_2d - 72 * s) / (17 * s)) ** 2 <= 1.0] = CLASS["cortex"]
    plane[(x_2d / (16 * s)) ** 2 + ((y_2d - 72 * s) / (14 * s)) ** 2 <= 1.0] = CLASS["vertebra"]
    plane[(x_2d / (8 * s)) ** 2 + ((y_2d - 100 * s) / (8 * s)) ** 2 <= 1.0] = CLASS["canal"]
    np.copyto(label, plane[None], where=plane[None] > 0)
    front = float(np.min(cy - by)) + fat + 18
    sternum = ((x_2d / (14 * s)) ** 2 + ((y_2d - front) / (6 * s)) ** 2 <= 1.0)
    z_range = slice(*grid.index_range(grid.zs, -130 * s, 70 * s))
    label[z_range][:, sternum] = CLASS["sternum"]

    # Lungs.
    lungs = patient.lung_inside(x, y, z) & cavity
    label[lungs] = CLASS["lung"]

    # Heart: myocardium shell, right heart as dense as the pulmonary arteries, left heart at aortic density.
    centre, semi = patient.heart_params()
    found = _ellipsoid(grid, centre, semi)
    if found is not None:
        region, value = found
        xl, yl, _ = grid.local_coords(region)
        local = label[region]
        local[value <= 1.0] = CLASS["myocardium"]
        pool = value <= 0.72
        septum = (xl - centre[0]) * 0.55 + (yl - centre[1]) * 0.84
        local[pool & (septum < -4)] = CLASS["right_blood"]
        local[pool & (septum > 4)] = CLASS["left_blood"]
    found = _ellipsoid(grid, patient.landmarks()["la"], np.array([35, 22, 20]) * s)
    if found is not None:
        region, value = found
        label[region][value <= 1.0] = CLASS["left_atrium"]

    # Great vessels and airways.
    L = lambda *p: np.array(p, float) * s  # noqa: E731
    aorta = [(L(-22, -28, -90), L(-24, -24, 15), 15 * s, 15 * s), (L(-24, -24, 15), L(-5, -8, 42), 14 * s, 13 * s),
             (L(-5, -8, 42), L(18, 22, 40), 13 * s, 12 * s), (L(18, 22, 40), L(22, 44, 18), 12 * s, 12 * s),
             (L(22, 44, 18), L(20, 50, -260), 12 * s, 11 * s)]
    label[tube_mask(grid, aorta)] = CLASS["aorta"]
    label[tube_mask(grid, [(L(-46, -18, 140), L(-42, -16, -45), 9 * s, 10 * s)])] = CLASS["svc"]
    label[tube_mask(grid, [(L(2, 36, 160), L(6, 38, -200), 8 * s, 8 * s)])] = CLASS["esophagus"]
    airway_walls = [(L(0, 14, 170), L(0, 16, 0), 11 * s, 11 * s), (L(0, 16, 0), L(-32, 20, -20), 8 * s, 7.5 * s),
                    (L(0, 16, 0), L(32, 22, -26), 7.5 * s, 7 * s)]
    label[tube_mask(grid, airway_walls)] = CLASS["airway_wall"]
    label[tube_mask(grid, [(p0, p1, r0 - 2.0, r1 - 2.0) for p0, p1, r0, r1 in airway_walls])] = CLASS["airway_air"]
    label[~cavity & (label >= CLASS["lung"])] = CLASS["muscle"]  # tubes stop at the chest wall

    base = np.array([v[0] for v in TISSUES.values()], np.float32)
    amplitude = np.array([v[1] for v in TISSUES.values()], np.float32)
    base[CLASS["lung"]] = patient.lung_hu
    base[CLASS["right_blood"]] = contrast.right_heart_hu
    base[CLASS["left_blood"]] = contrast.aorta_hu
    base[CLASS["aorta"]] = contrast.aorta_hu
    base[CLASS["left_atrium"]] = contrast.vein_hu
    base[CLASS["svc"]] = contrast.svc_hu
    texture = smooth_noise(shape, rng, (2, 6, 6), 1.5)
    hu = base[label]
    texture *= amplitude[label]
    hu += texture
    lungs = label == CLASS["lung"]
    # Gravity-dependent density: the posterior (dependent) lung is denser.
    dependent = (60.0 * np.clip((y - 20 * s) / (90 * s), 0.0, 1.0)).astype(np.float32)
    hu += lungs * dependent
    return hu, lungs
