"""Experiment 25's diagnosis (training and tuning phantoms only): where find_candidates loses each embolus that has no
candidate: the clot-density cores it lies in (label, size, shell lumen share, its share of the embolus), and how much
of it the cut of the large cores keeps. The truth is read to diagnose the candidate pass; nothing trains on it.

python docs/reports/experiments/exp25/miss_stages.py SEED:EMBOLUS_INDEX ...
"""

import json
import sys

import numpy as np

import IExplainLib.candidates.proposals as proposals
from IExplainLib.chest_region import chest_region
from IExplainLib.filling_defects import CLOT_HU, LUMEN_HU, cores_and_boxes
from IExplainLib.phantoms import make_study


def first_cores(study):
    """``find_candidates``'s first step on a study: its HU, spacing (z, y, x), chest region and the clot-density cores
    of that region, with their rows and boxes."""
    hu = np.asarray(study.volume.array)
    sx, sy, sz = study.volume.spacing
    spacing_zyx = np.array([sz, sy, sx])
    region = chest_region(hu, study.volume.spacing)
    lumen = (hu >= LUMEN_HU[0]) & (hu <= LUMEN_HU[1])
    enclosed = proposals._closed_by_ball(lumen, spacing_zyx, proposals.ENCLOSED_MM, within=region)
    cores, rows, boxes = cores_and_boxes(region, hu, study.volume.spacing, keep_unopened=enclosed,
                                         min_mm3=proposals.MIN_CANDIDATE_MM3)
    return hu, spacing_zyx, region, cores, rows, boxes


def main():
    wanted: dict[int, list[int]] = {}
    for spec in sys.argv[1:]:
        seed, index = map(int, spec.split(":"))
        wanted.setdefault(seed, []).append(index)
    for seed, indices in wanted.items():
        study = make_study(seed, slices=64, size=512)
        hu, spacing_zyx, region, cores, rows, boxes = first_cores(study)
        by_label = {row["label"]: row for row in rows}
        clot = proposals._split_large_cores(cores, [r for r in rows if r["lumen_share"] >= proposals.MIN_LUMEN_SHARE],
                                            hu, spacing_zyx, boxes)
        clot_density = (hu >= CLOT_HU[0]) & (hu <= CLOT_HU[1])
        for index in indices:
            embolus = study.emboli[index]
            truth = study.truth == index + 1
            labels = [int(label) for label in np.unique(cores[truth]) if label]
            touched = [(label, round(by_label[label]["mm3"]) if label in by_label else None,
                        round(by_label[label]["lumen_share"], 3) if label in by_label else None,
                        round(float((truth & (cores == label)).sum() / truth.sum()), 2)) for label in labels]
            print(json.dumps({
                "seed": seed, "k": index, "level": embolus["level"], "occl": embolus["occlusive"],
                "r": embolus["radius_mm"], "len": embolus["length_mm"], "hu": embolus["hu"], "vox": int(truth.sum()),
                "spacing": [round(s, 2) for s in study.volume.spacing], "mean_hu": round(float(hu[truth].mean())),
                "clotd": round(float(clot_density[truth].mean()), 2), "region": round(float(region[truth].mean()), 2),
                "cores": touched, "after_split": int(clot[truth].sum())}), flush=True)


if __name__ == "__main__":
    main()
