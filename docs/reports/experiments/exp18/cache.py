"""Experiment 18's candidate cache: synthetic phantoms -> candidates (features, patches) with slice labels only for
training (train/), and, for tuning and held-out scoring only, which candidates touch which embolus (truth/).

python docs/reports/experiments/exp18/cache.py OUT FIRST_SEED COUNT [--size 512 --slices 64]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from IExplainLib.candidates.proposals import find_candidates
from IExplainLib.candidates.training_data import study_candidates
from IExplainLib.evaluation.froc import ScoredStudy
from IExplainLib.phantoms import make_study

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("first", type=int)
parser.add_argument("count", type=int)
parser.add_argument("--size", type=int, default=512)
parser.add_argument("--slices", type=int, default=64)
args = parser.parse_args()
out = Path(args.out)
(out / "train").mkdir(parents=True, exist_ok=True)
(out / "truth").mkdir(parents=True, exist_ok=True)
for seed in range(args.first, args.first + args.count):
    target = out / "train" / f"phantom-{seed}.npz"
    if target.exists():
        continue
    start = time.time()
    study = make_study(seed, slices=args.slices, size=args.size)
    candidates = find_candidates(study.volume)
    data = study_candidates(f"phantom-{seed}", study.volume, candidates, study.slice_labels)
    scored = ScoredStudy.from_labels(candidates.labels, np.zeros(len(candidates)), study.truth, len(study.emboli),
                                     [embolus["level"] for embolus in study.emboli])
    (out / "truth" / f"phantom-{seed}.json").write_text(json.dumps(
        {"emboli": scored.emboli, "truth_share": scored.truth_share.tolist(), "levels": scored.calibres,
         "calibres": [c.calibre for c in candidates.candidates]}))
    data.save(target)
    print(f"{seed}: {len(candidates)} candidates, {len(study.emboli)} emboli, {time.time() - start:.1f} s", flush=True)
