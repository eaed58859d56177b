"""Experiment 26b: with 25d's dim-vessel pass (caches of ``exp26/cache.py --dim-ceiling 100``), do three more columns
of each candidate (``cache.EXTRA_NAMES``: found by the pass, the dim-vessel share of its shell, its 90th percentile
HU) let the reducer rank the pass's clots above the look-alikes it brings? The shipped recipe (WiderMLP over the
columns, MIL, bag leak 0.5, soft maximum 0.5, 150 epochs) with the shipped 23 columns and with the three more, seeds
0-2; threshold on the tuning caches, held-out caches read once.

python docs/reports/experiments/exp26/extra_arms.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ...
    [--arms rings rings+extra]
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp22"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp24"))

from arms import load  # noqa: E402
from caches import without_dense  # noqa: E402
from context_arms import arm_parser, narrowed, train_and_score  # noqa: E402

from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES, StudyCandidates  # noqa: E402

SHIPPED = len(STUDY_FEATURE_NAMES)
ARM_COLUMNS = {"rings": list(range(SHIPPED)), "rings+extra": list(range(SHIPPED + 3)),
               "rings+flag": list(range(SHIPPED + 1)), "rings+shell-p90": list(range(SHIPPED)) + [SHIPPED + 1,
                                                                                                   SHIPPED + 2]}


def with_extras(spec: str, with_truth: bool = True):
    items = []
    for folder in map(Path, spec.split("+")):
        for study, truth in load(folder, with_truth):
            extra = np.load(folder / "extra" / f"{study.case_id}.npy").reshape(len(study), -1)
            wide = StudyCandidates(study.case_id, np.concatenate([study.features, extra], 1).astype(np.float32),
                                   study.patches, study.slice_ranges, study.slice_labels)
            items.append(without_dense((wide, truth), 150.0))
    return items


def main():
    args = arm_parser(["rings", "rings+extra"]).parse_args()
    train, tune = with_extras(args.train), with_extras(args.tune)
    heldout = {name: with_extras(path) for name, path in (h.split("=", 1) for h in args.heldout)}
    report = {}
    for arm in args.arms:
        columns = ARM_COLUMNS[arm]
        arm_train, arm_tune = narrowed(train, columns), narrowed(tune, columns)
        for seed in args.seeds:
            result = train_and_score(arm_train, arm_tune, heldout, columns, seed, args.epochs, 0.5)
            report[f"{arm} seed {seed}"] = result
            print(f"{arm} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
