"""Experiment 20's candidate cache of real-anatomy CT angiograms (contrast and clots inserted into the POPI chest
CT): the same layout as experiment 18's cache (train/: candidates with slice labels only; truth/: which candidates
touch which embolus, for tuning and held-out scoring only).

python docs/reports/experiments/exp20/cache_real.py OUT FIRST_SEED COUNT [--slices 48]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from IExplainLib.candidates.proposals import find_candidates
from IExplainLib.candidates.training_data import study_candidates
from IExplainLib.evaluation.froc import ScoredStudy
from IExplainLib.evaluation.quality_sets import RealCT
from IExplainLib.phantoms.real_anatomy import make_real_anatomy_study

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("first", type=int)
parser.add_argument("count", type=int)
parser.add_argument("--slices", type=int, default=48)
args = parser.parse_args()
out = Path(args.out)
(out / "train").mkdir(parents=True, exist_ok=True)
(out / "truth").mkdir(parents=True, exist_ok=True)
anatomy = RealCT().anatomy(None)
for seed in range(args.first, args.first + args.count):
    target = out / "train" / f"real-anatomy-{seed}.npz"
    if target.exists():
        continue
    start = time.time()
    study = make_real_anatomy_study(anatomy, seed, slices=args.slices)
    candidates = find_candidates(study.volume)
    data = study_candidates(f"real-anatomy-{seed}", study.volume, candidates, study.slice_labels)
    scored = ScoredStudy.from_labels(candidates.labels, np.zeros(len(candidates)), study.truth, len(study.emboli),
                                     [embolus["level"] for embolus in study.emboli])
    (out / "truth" / f"real-anatomy-{seed}.json").write_text(json.dumps(
        {"emboli": scored.emboli, "truth_share": scored.truth_share.tolist(), "levels": scored.calibres,
         "calibres": [c.calibre for c in candidates.candidates]}))
    data.save(target)
    found = scored.counts(0.0).tp
    print(f"{seed}: {len(candidates)} candidates, {len(study.emboli)} emboli ({found} found strictly), "
          f"{time.time() - start:.1f} s", flush=True)
