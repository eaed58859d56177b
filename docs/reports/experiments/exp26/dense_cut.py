"""Experiment 26's diagnosis of the clots lost in the mediastinal mass (category A of experiment 25; training, tuning
and held-out phantoms, read to diagnose the candidate pass, nothing trains on them): the dense part of the large core
that holds each embolus, its size, and what an opening by a ball of each bridge radius leaves of it: the size of the
opened part that holds the most of the embolus and that share.

python docs/reports/experiments/exp26/dense_cut.py SEED:EMBOLUS_INDEX[:neg|pos] ...
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp25"))

from miss_stages import first_cores  # noqa: E402

import IExplainLib.candidates.proposals as proposals  # noqa: E402
from IExplainLib.phantoms import make_study  # noqa: E402

RADII_MM = (1.0, 1.5, 2.0, 2.5)


def main():
    for spec in sys.argv[1:]:
        seed, index, *flag = spec.split(":")
        negative = None if not flag else flag[0] == "neg"
        study = make_study(int(seed), slices=64, size=512, negative=negative)
        hu, spacing, _, cores, _, _ = first_cores(study)
        truth = study.truth == int(index) + 1
        labels, counts = np.unique(cores[truth], return_counts=True)
        label = int(labels[np.argmax(np.where(labels > 0, counts, -1))])
        core = cores == label
        smoothed = ndimage.uniform_filter(hu.astype(np.float32), size=(1, 3, 3))
        dense = core & (smoothed >= proposals.DENSE_MIN_HU)
        parts = ndimage.label(dense, structure=np.ones((3, 3, 3), bool))[0]
        part_labels, part_counts = np.unique(parts[truth], return_counts=True)
        held = int(part_labels[np.argmax(np.where(part_labels > 0, part_counts, -1))])
        part = parts == held
        voxel = float(np.prod(spacing))
        row = {"spec": spec, "level": study.emboli[int(index)]["level"],
               "occl": study.emboli[int(index)]["occlusive"], "embolus_mm3": round(truth.sum() * voxel),
               "core_mm3": round(core.sum() * voxel), "dense_part_mm3": round(part.sum() * voxel),
               "embolus_in_dense_part": round(float((truth & part).sum() / truth.sum()), 2), "opened": {}}
        box = ndimage.find_objects(part.astype(np.int32))[0]
        box = tuple(slice(max(0, s.start - 4), s.stop + 4) for s in box)
        for radius in RADII_MM:
            opened = proposals._opened_by_ball(part[box], spacing, radius)
            pieces = ndimage.label(opened, structure=np.ones((3, 3, 3), bool))[0]
            hit, hit_counts = np.unique(pieces[truth[box]], return_counts=True)
            if not (hit > 0).any():
                row["opened"][radius] = None
                continue
            best = int(hit[np.argmax(np.where(hit > 0, hit_counts, -1))])
            piece = pieces == best
            row["opened"][radius] = {"mm3": round(piece.sum() * voxel),
                                     "embolus_share": round(float((piece & truth[box]).sum() / truth.sum()), 2),
                                     "piece_is_embolus": round(float((piece & truth[box]).sum() / piece.sum()), 2)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
