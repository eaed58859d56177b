"""Experiment 20's caches as ``iexplain train-reducer --cache`` names them, so the shipped reducer's command reads
the candidates the experiment found instead of finding them again (the same library, the same studies):
training studies by link, tuning studies by link plus their truth record in the command's layout.

python docs/reports/experiments/exp20/cli_cache.py EXP20_CACHE CLI_CACHE
"""

import json
import sys
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
names = {"synth-train": ("", "-512-64"), "real-train": ("", "-48"), "synth-tune": ("tune-", "-512-64"),
         "real-tune": ("tune-", "-48")}
for folder, (prefix, suffix) in names.items():
    for path in sorted((source / folder / "train").glob("*.npz")):
        stem = f"{prefix}{path.stem}{suffix}"
        link = target / f"{stem}.npz"
        if not link.exists():
            link.symlink_to(path.resolve())
        if prefix:
            record = json.loads((source / folder / "truth" / f"{path.stem}.json").read_text())
            (target / f"{stem}.truth.json").write_text(json.dumps(
                {"truth_share": record["truth_share"], "emboli": record["emboli"], "calibres": record["levels"]}))
print(len(list(target.glob("*.npz"))), "studies linked")
