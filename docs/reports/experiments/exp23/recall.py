"""Experiments 23a and 23f's diagnosis (tuning seeds only): for each embolus of freshly generated studies, the
largest share of clot in a candidate that touches it, under candidate rules that differ only in ``split_holes_mm3``
(and, at commit 603ee0b of experiment 23f only, ``split_closing_mm``; the truth is read here to diagnose the candidate
pass; nothing trains on it). ``default`` is the rule before the cut.

python docs/reports/experiments/exp23/recall.py {real,synth} FIRST_SEED COUNT [--sizes default 500 2500]
"""

import argparse
import json
import time

import numpy as np

from IExplainLib.candidates.proposals import CandidateRule, find_candidates
from IExplainLib.evaluation.froc import ScoredStudy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("real", "synth"))
    parser.add_argument("first", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--sizes", nargs="+", default=["default", "500", "2500"])
    args = parser.parse_args()
    # experiment 23f's rules "100c3" / "100c5" (an in-plane closing of the lumen) ran at commit 603ee0b only
    rules = {(name if name == "default" else f"split{name}"):
             CandidateRule(split_holes_mm3=None if name == "default" else float(name)) for name in args.sizes}
    if args.kind == "real":
        from IExplainLib.evaluation.quality_sets import RealCT
        from IExplainLib.phantoms.real_anatomy import make_real_anatomy_study
        anatomy = RealCT().anatomy(None)

        def make(seed):
            return make_real_anatomy_study(anatomy, seed, slices=48)
    else:
        from IExplainLib.phantoms import make_study

        def make(seed):
            return make_study(seed, slices=48, size=512)
    for seed in range(args.first, args.first + args.count):
        print(json.dumps(rule_row(seed, make(seed), rules)), flush=True)


def rule_row(seed: int, study, rules: dict) -> dict:
    """For each rule: the study's candidates, and each embolus's largest share of clot in a candidate touching it."""
    instances, count = study.truth.astype(np.int32), len(study.emboli)
    row = {"seed": seed, "emboli": count}
    for name, rule in rules.items():
        start = time.time()
        candidates = find_candidates(study.volume, rule=rule)
        scored = ScoredStudy.from_labels(candidates.labels, np.zeros(len(candidates)), instances, count)
        best = [max([scored.truth_share[i] for i in touching], default=0.0) for touching in scored.emboli]
        row[name] = {"n": len(candidates), "best": [round(float(b), 3) for b in best],
                     "s": round(time.time() - start, 1)}
    return row


if __name__ == "__main__":
    main()
