"""Experiment 20's caches as ``iexplain train-reducer --cache`` names them, under the default candidate rule of
experiment 21: each study's candidates without those denser on average than ``MAX_MEAN_HU`` (a candidate's features
and patch do not depend on the others, so this is what ``find_candidates`` with the default rule finds; experiment 20's
caches were made with the other two steps of the rule on), with ``rule.json`` so the command accepts the folder.

python docs/reports/experiments/exp21/cli_cache.py EXP20_CACHE CLI_CACHE
"""

import json
import sys
from pathlib import Path

import numpy as np

from IExplainLib.candidates.proposals import DEFAULT_RULE, FEATURE_NAMES
from IExplainLib.candidates.training_data import StudyCandidates

source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
names = {"synth-train": ("", "-512-64"), "real-train": ("", "-48"), "synth-tune": ("tune-", "-512-64"),
         "real-tune": ("tune-", "-48")}
column = FEATURE_NAMES.index("mean_hu")
for folder, (prefix, suffix) in names.items():
    for path in sorted((source / folder / "train").glob("*.npz")):
        stem = f"{prefix}{path.stem}{suffix}"
        study = StudyCandidates.load(path)
        keep = np.flatnonzero(study.features[:, column] < DEFAULT_RULE.max_mean_hu)
        StudyCandidates(study.case_id, study.features[keep], study.patches[keep], study.slice_ranges[keep],
                        study.slice_labels).save(target / f"{stem}.npz")
        if prefix:
            record = json.loads((source / folder / "truth" / f"{path.stem}.json").read_text())
            where = {int(old): new for new, old in enumerate(keep)}
            (target / f"{stem}.truth.json").write_text(json.dumps(
                {"truth_share": [record["truth_share"][i] for i in keep],
                 "emboli": [[where[i] for i in touching if i in where] for touching in record["emboli"]],
                 "calibres": record["levels"]}))
(target / "rule.json").write_text(json.dumps(DEFAULT_RULE.as_dict()))
print(len(list(target.glob("*.npz"))), "studies written")
