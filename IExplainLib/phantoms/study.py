"""``make_study``: one synthetic CTPA study with exact PE ground truth.

Deterministic for a seed: each ingredient (anatomy, vessel trees, emboli, scanner noise) draws from its own random
stream derived from the seed, so the same call always returns the same study, voxel for voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.uid import generate_uid

from ..errors import InputError
from ..volume import Volume
from .anatomy import Patient, paint_anatomy, smooth_noise
from .emboli import choose_emboli
from .grid import Grid
from .labels import boxes_from_truth, slice_labels
from .scanner import Contrast, Scanner
from .tubes import paint_tube_ids
from .vessel_tree import build_arteries, build_veins

THICKNESS_CHOICES_MM = (1.0, 1.25, 1.5, 2.0, 2.5)
MAX_THICKNESS_MM = 5.0


@dataclass
class SyntheticStudy:
    volume: Volume            # HU, int16, (z, y, x)
    truth: np.ndarray         # instance mask: 0 none, k = embolus k (uint8, or uint16 beyond 255 emboli)
    vessels: np.ndarray       # bool, contrast-filled pulmonary arterial lumen
    slice_labels: np.ndarray  # bool per z index: truth present in that slice
    boxes: list[dict]         # slice_index, embolus, x, y, width, height (pixels)
    emboli: list[dict]        # level, side, occlusive, voxels, hu, length_mm, radius_mm
    study_uid: str
    seed: int
    contrast: dict = field(default_factory=dict)  # lumen_hu, vein_hu, aorta_hu, poor_contrast, flow_artifact, ...
    scanner: dict = field(default_factory=dict)   # noise_sd, blur_mm
    kind: str = "synthetic"                       # "synthetic" or "real-anatomy"

    @property
    def negative(self) -> bool:
        return not self.emboli

    @property
    def lumen_hu(self) -> float:
        return float(self.contrast.get("lumen_hu", float("nan")))


def study_uid_for(*parts) -> str:
    """A valid DICOM UID that is a pure function of ``parts`` (same study -> same UID)."""
    return str(generate_uid(entropy_srcs=["iexplain-phantom", *map(str, parts)]))


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def _check(seed, slices, size, spacing_xy, slice_thickness, n_emboli):
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if not 8 <= int(slices) <= 2000:
        raise InputError(f"slices must be between 8 and 2000, got {slices}")
    if not 32 <= int(size) <= 2048:
        raise InputError(f"size must be between 32 and 2048 pixels, got {size}")
    if spacing_xy is not None and not 0.1 <= spacing_xy <= 20:
        raise InputError(f"spacing_xy must be 0.1-20 mm, got {spacing_xy}")
    if slice_thickness is not None and not 0.1 <= slice_thickness <= 20:
        raise InputError(f"slice_thickness must be 0.1-20 mm, got {slice_thickness}")
    if n_emboli is not None and not 0 <= int(n_emboli) <= 50:
        raise InputError(f"n_emboli must be 0-50, got {n_emboli}")


def make_study(seed: int, slices: int = 120, size: int = 512, spacing_xy: float | None = None,
               slice_thickness: float | None = None, n_emboli: int | None = None,
               negative: bool | None = None) -> SyntheticStudy:
    """A synthetic CTPA study. Unset options are drawn from the seed (about 30% of studies negative).

    The default in-plane spacing spreads a 340-380 mm field of view over ``size`` pixels, so a small ``size`` gives
    the same anatomy at lower resolution; the default slice thickness is a clinical one (1-2.5 mm), raised where
    needed so that the slab covers at least 100 mm around the hila (where most emboli sit).
    """
    _check(seed, slices, size, spacing_xy, slice_thickness, n_emboli)
    if negative and n_emboli:
        raise InputError("a negative study cannot have emboli (negative=True with n_emboli > 0)")
    setup = _rng(seed, 0)
    if negative is None:
        negative = (n_emboli == 0) if n_emboli is not None else bool(setup.random() < 0.3)
    count = 0 if negative else (int(n_emboli) if n_emboli else int(setup.choice([1, 1, 2, 2, 3, 3, 4, 5])))
    if not negative and count == 0:
        raise InputError("negative=False needs n_emboli >= 1")
    fov = float(setup.uniform(340, 380))
    spacing = float(spacing_xy) if spacing_xy else fov / size
    thickness = float(slice_thickness) if slice_thickness else max(
        float(setup.choice(THICKNESS_CHOICES_MM)), min(MAX_THICKNESS_MM, 100.0 / slices))
    patient = Patient.random(_rng(seed, 1))
    coverage = slices * thickness
    jitter = 0.0 if coverage > 250 else float(setup.uniform(-0.15, 0.15)) * coverage
    centre = -25.0 * patient.scale + jitter
    grid = Grid.centred(size, slices, spacing, thickness, centre, table_z=float(setup.uniform(-250, -50)))

    contrast = Contrast.random(_rng(seed, 2))
    scanner = Scanner.random(_rng(seed, 3))
    hu, _lungs = paint_anatomy(grid, patient, contrast, _rng(seed, 4))

    arteries = build_arteries(patient, _rng(seed, 5))
    veins = build_veins(patient, _rng(seed, 6))
    pieces, piece_branch = [], []
    for b, branch in enumerate(arteries + veins):
        for piece in branch.pieces():
            pieces.append(piece)
            piece_branch.append(b)
    owner = np.full(grid.shape, -1, np.int32)
    paint_tube_ids(grid, pieces, owner, np.zeros(grid.shape, np.float32))
    branch_of_voxel = np.where(owner >= 0, np.asarray(piece_branch, np.int32)[owner], -1)
    vessels = (branch_of_voxel >= 0) & (branch_of_voxel < len(arteries))
    veins_mask = branch_of_voxel >= len(arteries)

    branch_hu = _branch_enhancement(arteries, contrast, _rng(seed, 7))
    hu[vessels] = branch_hu[branch_of_voxel[vessels]]
    hu[veins_mask] = contrast.vein_hu
    del owner, branch_of_voxel

    truth = np.zeros(grid.shape, np.uint8 if count < 256 else np.uint16)
    emboli = []
    if count:
        emboli_rng = _rng(seed, 8)
        chosen = choose_emboli(arteries, grid, vessels, count, emboli_rng)
        if not chosen:
            chosen = choose_emboli(arteries, grid, vessels, count, emboli_rng, min_voxels=1, min_slices=1)
        if not chosen:
            raise InputError(f"no embolus fits a {size}x{size}x{slices} field of view at {thickness} mm slices; "
                             "use more slices or thicker slices")
        texture_rng = _rng(seed, 9)
        for k, (plan, region, mask) in enumerate(chosen, start=1):
            truth[region][mask] = k
            local = hu[region]
            texture = smooth_noise(mask.shape, texture_rng, (1, 2, 2), 1.0)  # clots are not homogeneous
            local[mask] = plan.hu + 6.0 * texture[mask]
            emboli.append({"embolus": k, "level": plan.level, "calibre": plan.level, "side": plan.side,
                           "occlusive": plan.occlusive,
                           "voxels": int(mask.sum()), "hu": round(plan.hu, 1),
                           "length_mm": round(plan.length_mm, 1), "radius_mm": round(plan.radius_mm, 2)})

    image = scanner.apply(hu, grid.spacing, _rng(seed, 10))
    image = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    uid = study_uid_for(seed, slices, size, spacing, thickness, n_emboli, negative)
    volume = Volume(image, grid.spacing, grid.origin, np.eye(3),
                    {"source": "iexplain synthetic CTPA", "seed": int(seed), "study_uid": uid})
    return SyntheticStudy(volume=volume, truth=truth, vessels=vessels, slice_labels=slice_labels(truth),
                          boxes=boxes_from_truth(truth), emboli=emboli, study_uid=uid, seed=int(seed),
                          contrast=contrast.as_dict(), scanner=scanner.as_dict())


def _branch_enhancement(arteries, contrast: Contrast, rng: np.random.Generator) -> np.ndarray:
    """Lumen HU per arterial branch: small branch-to-branch variation; the mixing artefact in one lower lobe."""
    values = contrast.lumen_hu * rng.uniform(0.96, 1.04, len(arteries))
    values = np.clip(values, 250.0, 450.0)
    if contrast.flow_artifact:
        lobes = [i for i, b in enumerate(arteries) if b.level == "lobar"]
        lower = [i for i in lobes if arteries[i].points[-1][2] < arteries[i].points[0][2]]
        if lower:
            stack = [int(rng.choice(lower))]
            while stack:
                i = stack.pop()
                factor = contrast.artifact_factor * rng.uniform(0.9, 1.1)
                values[i] = 40.0 + (contrast.lumen_hu - 40.0) * factor
                stack.extend(arteries[i].children)
    return values.astype(np.float32)
