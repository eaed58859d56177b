"""Experiment 21e: one bag per run of consecutive PE slices (the candidates lying within the run) instead of one bag
per PE slice (the candidates spanning that slice and lying within PE slices). A run holds at least one embolus; per
slice, a long central clot's bag is repeated once for each of its slices and a short segmental clot's once or twice.
Run as leak_arms.py, with the bag rule swapped in for the training loop only.

python docs/reports/experiments/exp21/run_bags.py OUT.json TRAIN TUNE --leak ... --seeds ... --heldout ...
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import IExplainLib.candidates.mil as mil  # noqa: E402


def run_bags(study, min_pe_share: float = 0.0):
    per_slice = original(study, min_pe_share)
    labels = study.slice_labels
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels.astype(int), [0]])))
    bags = []
    for first, stop in zip(edges[::2], edges[1::2]):
        members = np.flatnonzero((study.slice_ranges[:, 0] >= first) & (study.slice_ranges[:, 1] < stop))
        if members.size:
            bags.append(members)
    return mil.Bags(per_slice.negatives, bags, per_slice.spans_pe, per_slice.pe_share)


original = mil.study_bags
mil.study_bags = run_bags

from leak_arms import main  # noqa: E402

if __name__ == "__main__":
    main()
