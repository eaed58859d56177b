"""Session 21's caches, made before the ring columns existed, with them appended: the ring columns of each study
from its cached patches (float16, as ``training_data.study_candidates`` computes them, so the result is what a cache
made now holds). A ``rule.json`` found in a folder gains the feature list, so ``train-reducer --cache`` accepts it.

python docs/reports/experiments/exp23/add_rings.py SOURCE TARGET
"""

import json
import sys
from pathlib import Path

import numpy as np

from IExplainLib.candidates.proposals import FEATURE_NAMES
from IExplainLib.candidates.rings import ring_features
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES, StudyCandidates

source, target = Path(sys.argv[1]), Path(sys.argv[2])
for path in sorted(source.rglob("*")):
    out = target / path.relative_to(source)
    if path.is_dir():
        continue
    out.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        study = StudyCandidates.load(path)
        if study.features.shape[1] != len(FEATURE_NAMES):
            raise SystemExit(f"{path}: {study.features.shape[1]} feature columns, expected the hand features alone")
        features = np.concatenate([study.features, ring_features(study.patches)], axis=1)
        StudyCandidates(study.case_id, features, study.patches, study.slice_ranges, study.slice_labels).save(out)
    elif path.name == "rule.json":
        out.write_text(json.dumps({**json.loads(path.read_text()), "features": list(STUDY_FEATURE_NAMES)}))
    else:
        out.write_bytes(path.read_bytes())
print("done", target)
