"""Speed of the phantom generator: one 512x512x120 synthetic CTPA study (the target is under 20 s on one core).

The reference it is compared with is the straightforward way of drawing the vessel tree: evaluating every tube
piece on the whole volume instead of on its own bounding box (timed on a few pieces and extrapolated, since doing
it for real would take minutes).
"""

from __future__ import annotations

import time

import numpy as np


def run(quick: bool = False) -> dict:
    """Time ``make_study`` at full size (512x512x120; quick: 256x256x60) and the vessel-drawing hot path."""
    from ..phantoms.anatomy import Patient
    from ..phantoms.grid import Grid
    from ..phantoms.study import make_study
    from ..phantoms.tubes import capsule_depth, paint_tube_ids
    from ..phantoms.vessel_tree import build_arteries, build_veins

    size, slices = (256, 60) if quick else (512, 120)
    start = time.perf_counter()
    study = make_study(seed=1, slices=slices, size=size, negative=False, n_emboli=3)
    study_s = time.perf_counter() - start

    rng = np.random.default_rng(0)
    patient = Patient.random(rng)
    grid = Grid.centred(size, slices, 360.0 / size, 240.0 / slices, -25.0, 0.0)
    pieces = [p for b in build_arteries(patient, rng) + build_veins(patient, rng) for p in b.pieces()]
    start = time.perf_counter()
    paint_tube_ids(grid, pieces, np.full(grid.shape, -1, np.int32), np.zeros(grid.shape, np.float32))
    boxed_s = time.perf_counter() - start
    full_region = (slice(None), slice(None), slice(None))
    sample = pieces[:: max(1, len(pieces) // 4)][:4]
    start = time.perf_counter()
    for p0, p1, r0, r1 in sample:
        capsule_depth(grid, full_region, p0, p1, r0, r1)
    naive_s = (time.perf_counter() - start) / len(sample) * len(pieces)
    return {
        "study_shape_zyx": list(study.volume.shape),
        "study_seconds": round(study_s, 3),
        "target_seconds_512x512x120": 20.0,
        "vessel_pieces": len(pieces),
        "vessels_bounding_box_seconds": round(boxed_s, 3),
        "vessels_whole_volume_seconds_estimated": round(naive_s, 1),
        "vessels_speedup": round(naive_s / max(boxed_s, 1e-6), 1),
    }
