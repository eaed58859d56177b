"""Experiment 26's caches as ``iexplain train-reducer --cache`` names them (``exp21/cli_cache.py``'s names), for the
shipped reducer's recipe: training folders give ``phantom-SEED-512-64.npz`` / ``real-anatomy-SEED-48.npz``, tuning
folders ``tune-...`` with their truth record, and ``rule.json`` holds the default rule and feature list (the caches
must have been made under that rule: the command refuses a folder of another).

python docs/reports/experiments/exp26/cli_cache.py CLI_CACHE train=FOLDER ... tune=FOLDER ...
"""

import json
import shutil
import sys
from pathlib import Path

from IExplainLib.candidates.proposals import DEFAULT_RULE, CandidateRule
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES

target = Path(sys.argv[1])
target.mkdir(parents=True, exist_ok=True)
for item in sys.argv[2:]:
    role, folder = item.split("=", 1)
    source = Path(folder)
    if CandidateRule.from_dict(json.loads((source / "rule.json").read_text())) != DEFAULT_RULE:
        raise SystemExit(f"{source}: made under another rule than the default")
    for path in sorted((source / "train").glob("*.npz")):
        suffix = "-48" if path.stem.startswith("real-anatomy") else "-512-64"
        stem = ("tune-" if role == "tune" else "") + path.stem + suffix
        shutil.copyfile(path, target / f"{stem}.npz")
        if role == "tune":
            record = json.loads((source / "truth" / f"{path.stem}.json").read_text())
            (target / f"{stem}.truth.json").write_text(json.dumps(
                {"truth_share": record["truth_share"], "emboli": record["emboli"], "calibres": record["levels"]}))
(target / "rule.json").write_text(json.dumps({**DEFAULT_RULE.as_dict(), "features": list(STUDY_FEATURE_NAMES)}))
print(len(list(target.glob("*.npz"))), "studies in", target)
