"""3D pulmonary arterial and venous trees: trunk, main arteries, lobar, segmental, subsegmental and distal branches.

Each branch is a short bent polyline whose radius narrows with generation; children aim at random points of the
lung territory they supply, so the tree fills the lungs like the real one without ever leaving them. Veins start at
the left atrium and interleave with the arteries at lower contrast (a classic false positive for PE detectors).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import Patient

LEVELS_WITH_EMBOLI = ("central", "lobar", "segmental", "subsegmental")


@dataclass
class Branch:
    points: np.ndarray        # (n, 3) frame mm along the centreline
    radii: np.ndarray         # (n,) lumen radius mm at each point
    level: str                # trunk / central / lobar / segmental / subsegmental / distal / vein
    side: str                 # left / right / midline
    kind: str                 # artery / vein
    parent: int = -1
    children: list[int] = field(default_factory=list)

    def pieces(self):
        for i in range(len(self.points) - 1):
            yield self.points[i], self.points[i + 1], float(self.radii[i]), float(self.radii[i + 1])

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())


def _bent_polyline(start, end, rng, bend: float = 0.12, n: int = 3) -> np.ndarray:
    """start -> end through ``n - 2`` sideways-jittered points (vessels are never ruler-straight)."""
    direction = end - start
    length = np.linalg.norm(direction) + 1e-6
    points = [start]
    for fraction in np.linspace(0, 1, n)[1:-1]:
        jitter = rng.normal(0, bend * length, 3)
        jitter -= (jitter @ direction) / length ** 2 * direction
        points.append(start + fraction * direction + jitter)
    points.append(end)
    return np.array(points)


class TreeBuilder:
    """Grows the branches of one study; ``branches`` is the flat list, parents before children."""

    def __init__(self, patient: Patient, rng: np.random.Generator):
        self.patient = patient
        self.rng = rng
        self.branches: list[Branch] = []

    def add(self, points, radii, level, side, kind, parent=-1) -> int:
        self.branches.append(Branch(np.asarray(points, float), np.asarray(radii, float), level, side, kind, parent))
        index = len(self.branches) - 1
        if parent >= 0:
            self.branches[parent].children.append(index)
        return index

    def _in_lung(self, point, side_sign) -> bool:
        return bool(self.patient.lung_inside(point[0], point[1], point[2], side_sign))

    def first_inside(self, start, targets, length_range, side_sign):
        """First candidate branch towards ``targets`` whose end and midpoint lie in the lung (vectorised check)."""
        direction = targets - start
        norm = np.linalg.norm(direction, axis=1, keepdims=True) + 1e-6
        length = np.clip(norm, *length_range)
        unit = direction / norm
        ends = start + unit * length
        mids = start + unit * length * 0.5
        points = np.concatenate([ends, mids])
        inside = self.patient.lung_inside(points[:, 0], points[:, 1], points[:, 2], side_sign)
        ok = np.flatnonzero(inside[: len(targets)] & inside[len(targets):])
        if not len(ok):
            return None
        i = int(ok[0])
        return ends[i], unit[i], float(length[i, 0])

    def grow(self, parent: int, target_centre, spread, length_range, radius, level, generations):
        """Children from the end of ``parent`` towards random points near ``target_centre``; recurse."""
        if generations == 0:
            return
        branch = self.branches[parent]
        side_sign = -1 if branch.side == "right" else 1
        start = branch.points[-1]
        n_children = {"segmental": int(self.rng.integers(3, 6)), "distal": 3 if radius > 1.0 else 2}.get(level, 2)
        for _ in range(n_children):
            found = self.first_inside(start, target_centre + self.rng.normal(0, 1, (8, 3)) * spread, length_range,
                                      side_sign)
            if found is None:
                continue
            end, step, length = found
            r = radius * float(self.rng.uniform(0.85, 1.15))
            points = _bent_polyline(start, end, self.rng, bend=0.08)
            radii = np.linspace(r * 1.05, r * 0.9, len(points))
            child = self.add(points, radii, level, branch.side, branch.kind, parent)
            next_level, next_radius, next_lengths = _NEXT[level]
            self.grow(child, end + step * length * 0.9, spread * 0.7, next_lengths, next_radius * self.patient.scale,
                      next_level, generations - 1)


# level -> (child level, child radius at scale 1, child length range mm)
_NEXT = {
    "segmental": ("subsegmental", 1.85, (14.0, 26.0)),
    "subsegmental": ("distal", 1.15, (10.0, 20.0)),
    "distal": ("distal", 0.6, (7.0, 14.0)),
}


def _lobe_targets(patient: Patient) -> dict[str, tuple[str, np.ndarray]]:
    s = patient.scale
    return {
        "right_upper": ("right", np.array([-82, -5, 55]) * s), "right_middle": ("right", np.array([-70, -55, -60]) * s),
        "right_lower": ("right", np.array([-85, 45, -90]) * s), "left_upper": ("left", np.array([82, -5, 50]) * s),
        "lingula": ("left", np.array([72, -50, -60]) * s), "left_lower": ("left", np.array([85, 45, -95]) * s),
    }


def build_arteries(patient: Patient, rng: np.random.Generator) -> list[Branch]:
    s = patient.scale
    lm = patient.landmarks()
    tree = TreeBuilder(patient, rng)
    trunk_r = 14 * s * rng.uniform(0.9, 1.1)
    trunk = tree.add([lm["rvot"], lm["trunk_mid"], lm["bifurcation"]], [trunk_r, trunk_r, trunk_r * 0.95],
                     "trunk", "midline", "artery")
    main = {}
    for side, mid, hilum, r in (("right", lm["rpa_mid"], lm["r_hilum"], 10.5), ("left", lm["lpa_mid"], lm["l_hilum"], 10)):
        r *= s * rng.uniform(0.9, 1.1)
        main[side] = tree.add([lm["bifurcation"], mid, hilum], [r * 1.05, r, r * 0.92], "central", side, "artery", trunk)
    for lobe, (side, target) in _lobe_targets(patient).items():
        parent = main[side]
        start = tree.branches[parent].points[-1]
        direction = target - start
        length = float(np.clip(np.linalg.norm(direction) * 0.4, 22, 40))
        end = start + direction / np.linalg.norm(direction) * length
        r = (6.2 if lobe.endswith("lower") else 5.2) * s * rng.uniform(0.9, 1.1)
        lobar = tree.add(_bent_polyline(start, end, rng, 0.06), [r, r * 0.97, r * 0.9], "lobar", side, "artery", parent)
        tree.grow(lobar, target, np.array([30, 34, 30]) * s, (24.0, 45.0), 3.0 * s, "segmental", 5)
    return tree.branches


def build_veins(patient: Patient, rng: np.random.Generator) -> list[Branch]:
    """Four pulmonary veins from the left atrium, each with a lower-contrast tree of tributaries."""
    s = patient.scale
    tree = TreeBuilder(patient, rng)
    specs = (("right", (-18, 12, -42), (-50, -8, -38), (-80, -20, 10)),
             ("right", (-18, 22, -58), (-50, 28, -72), (-85, 50, -100)),
             ("left", (26, 8, -38), (52, -4, -30), (80, -15, 20)),
             ("left", (26, 22, -58), (52, 32, -74), (85, 50, -100)))
    for side, start0, end0, target0 in specs:
        start, end, target = (np.array(p, float) * s for p in (start0, end0, target0))
        r = 7.5 * s * rng.uniform(0.85, 1.1)
        vein = tree.add(_bent_polyline(start, end, rng, 0.05), [r, r, r * 0.9], "vein", side, "vein")
        _grow_veins(tree, vein, target, np.array([28, 32, 30]) * s, 4.0 * s, 5)
    return tree.branches


def _grow_veins(tree: TreeBuilder, parent: int, target, spread, radius, generations):
    if generations == 0 or radius < 0.5:
        return
    branch = tree.branches[parent]
    side_sign = -1 if branch.side == "right" else 1
    start = branch.points[-1]
    for _ in range(3 if generations >= 3 else 2):
        found = tree.first_inside(start, target + tree.rng.normal(0, 1, (8, 3)) * spread, (10.0, 40.0), side_sign)
        if found is None:
            continue
        end, step, length = found
        r = radius * float(tree.rng.uniform(0.85, 1.15))
        points = _bent_polyline(start, end, tree.rng, 0.08)
        child = tree.add(points, np.linspace(r, r * 0.9, len(points)), "vein", branch.side, "vein", parent)
        _grow_veins(tree, child, end + step * length * 0.8, spread * 0.6, radius * 0.62, generations - 1)
