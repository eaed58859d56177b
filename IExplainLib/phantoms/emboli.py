"""Emboli as intraluminal filling defects placed along arterial centrelines.

An embolus follows its artery's centreline for 8-45 mm. Occlusive clots fill the lumen (with tapered, meniscus-like
ends); partial ones are thinner tubes either in the middle of the lumen (the "polo mint" sign: contrast all around)
or hugging one wall (eccentric, mural). The truth is the clot intersected with the contrast-filled lumen, so every
truth voxel lies inside an opacified artery by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import Grid
from .tubes import capsule_depth, piece_region
from .vessel_tree import LEVELS_WITH_EMBOLI, Branch

LEVEL_WEIGHTS = {"central": 0.14, "lobar": 0.30, "segmental": 0.38, "subsegmental": 0.18}
LENGTH_MM = {"central": (20, 45), "lobar": (15, 35), "segmental": (12, 26), "subsegmental": (9, 18)}
OCCLUSIVE_P = {"central": 0.1, "lobar": 0.3, "segmental": 0.5, "subsegmental": 0.8}
MIN_PARTIAL_RADIUS_MM = 1.6


@dataclass
class EmbolusPlan:
    branch: int
    level: str
    side: str
    occlusive: bool
    hu: float
    pieces: list          # (p0, p1, r0, r1) clot tubes
    offset: np.ndarray    # sideways shift of the clot axis (eccentric clots)
    length_mm: float
    radius_mm: float


def _point_at(points: np.ndarray, s: float):
    """Point and unit tangent at arclength ``s`` along a polyline."""
    seg = np.diff(points, axis=0)
    lengths = np.linalg.norm(seg, axis=1)
    cumulative = np.concatenate([[0], np.cumsum(lengths)])
    i = int(np.clip(np.searchsorted(cumulative, s, side="right") - 1, 0, len(seg) - 1))
    u = (s - cumulative[i]) / max(lengths[i], 1e-6)
    return points[i] + u * seg[i], seg[i] / max(lengths[i], 1e-6), i, u


def plan_embolus(branches: list[Branch], index: int, rng: np.random.Generator) -> EmbolusPlan:
    branch = branches[index]
    total = branch.length
    low, high = LENGTH_MM[branch.level]
    length = float(min(rng.uniform(low, high), 0.85 * total))
    start = float(rng.uniform(0.05 * total, max(0.05 * total, total - length - 0.02 * total)))
    samples = np.linspace(start, start + length, max(3, int(length / 4) + 2))
    points, radii, tangents = [], [], []
    for s in samples:
        p, t, i, u = _point_at(branch.points, s)
        points.append(p)
        tangents.append(t)
        radii.append(branch.radii[i] + u * (branch.radii[i + 1] - branch.radii[i]))
    lumen_r = float(np.mean(radii))
    occlusive = bool(rng.random() < OCCLUSIVE_P[branch.level]) or lumen_r * 0.7 < MIN_PARTIAL_RADIUS_MM
    offset = np.zeros(3)
    if occlusive:
        clot_r = lumen_r + 0.6
    else:
        clot_r = max(MIN_PARTIAL_RADIUS_MM, lumen_r * float(rng.uniform(0.55, 0.8)))
        if rng.random() < 0.6:  # eccentric: pressed against one wall
            tangent = np.mean(tangents, axis=0)
            sideways = np.cross(tangent, rng.normal(size=3))
            sideways /= np.linalg.norm(sideways) + 1e-9
            offset = sideways * (lumen_r - clot_r) * float(rng.uniform(0.5, 0.9))
    u = np.linspace(0, 1, len(points))
    profile = clot_r * (0.55 + 0.45 * np.sin(np.pi * u))  # thinner ends: meniscus / tapered tail
    pieces = [(points[i], points[i + 1], float(profile[i]), float(profile[i + 1])) for i in range(len(points) - 1)]
    return EmbolusPlan(index, branch.level, branch.side, occlusive, float(rng.uniform(22, 78)), pieces, offset,
                       length, clot_r)


def rasterise_embolus(grid: Grid, plan: EmbolusPlan, lumen: np.ndarray):
    """(region, boolean clot mask on region) of the clot inside the lumen, or None when it misses the grid."""
    low = np.min([np.minimum(p0, p1) - max(r0, r1) for p0, p1, r0, r1 in plan.pieces], axis=0) + plan.offset
    high = np.max([np.maximum(p0, p1) + max(r0, r1) for p0, p1, r0, r1 in plan.pieces], axis=0) + plan.offset
    region = grid.box(low, high)
    if region is None:
        return None
    mask = np.zeros(lumen[region].shape, bool)
    for p0, p1, r0, r1 in plan.pieces:
        sub = piece_region(grid, p0 + plan.offset, p1 + plan.offset, max(r0, r1))
        if sub is None:
            continue
        local = tuple(slice(s.start - r.start, s.stop - r.start) for s, r in zip(sub, region))
        mask[local] |= capsule_depth(grid, sub, p0, p1, r0, r1, plan.offset) > 0
    mask &= lumen[region]
    return region, mask


def choose_emboli(branches: list[Branch], grid: Grid, lumen: np.ndarray, count: int, rng: np.random.Generator,
                  min_voxels: int = 6, min_slices: int = 2):
    """Up to ``count`` non-overlapping emboli visible in the grid: list of (plan, region, mask)."""
    candidates = {level: [i for i, b in enumerate(branches)
                          if b.kind == "artery" and b.level == level and _touches_grid(b, grid)]
                  for level in LEVELS_WITH_EMBOLI}
    levels = [lv for lv in LEVELS_WITH_EMBOLI if candidates[lv]]
    if not levels:
        return []
    weights = np.array([LEVEL_WEIGHTS[lv] for lv in levels])
    weights /= weights.sum()
    used: set[int] = set()
    taken = np.zeros(grid.shape, bool)
    chosen: list[tuple[EmbolusPlan, tuple[slice, slice, slice], np.ndarray]] = []
    for _attempt in range(count * 12):
        if len(chosen) == count:
            break
        level = levels[int(rng.choice(len(levels), p=weights))]
        free = [i for i in candidates[level] if i not in used]
        if not free:
            continue
        index = int(free[int(rng.integers(len(free)))])
        plan = plan_embolus(branches, index, rng)
        found = rasterise_embolus(grid, plan, lumen)
        if found is None:
            continue
        region, mask = found
        mask &= ~taken[region]
        if mask.sum() < min_voxels or np.count_nonzero(mask.any(axis=(1, 2))) < min_slices:
            continue
        used.add(index)
        taken[region] |= mask
        chosen.append((plan, region, mask))
    return chosen


def _touches_grid(branch: Branch, grid: Grid) -> bool:
    z = branch.points[:, 2]
    return bool(z.max() >= grid.zs[0] and z.min() <= grid.zs[-1])
