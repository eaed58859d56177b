"""Experiment 26's diagnosis (held-out caches, read to diagnose, nothing trains on them): where a reducer ranks each
embolus. For every embolus, its best qualifying candidate's score and how many false findings of the whole set score
at least as high (the set's FP budget at 2 per study is 2 x studies); then the highest-scoring false findings with
their hand features, to see which look-alikes spend that budget.

python docs/reports/experiments/exp26/embolus_ranks.py REDUCER.safetensors CACHE[+CACHE] [--top 15]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))

from caches import load_rule  # noqa: E402

from IExplainLib.candidates.detector import candidate_rule, load_reducer  # noqa: E402
from IExplainLib.candidates.mil import score_study  # noqa: E402
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES  # noqa: E402
from IExplainLib.evaluation.finding_metrics import STRICT_SHARE  # noqa: E402

SHOWN = ("log_mm3", "lumen_share", "mean_hu", "contrast_hu", "radius_mm", "extent_z_mm", "fill_share")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reducer")
    parser.add_argument("caches")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    model, card = load_reducer(args.reducer)
    items = load_rule(args.caches, True, candidate_rule(card).max_mean_hu)
    false_findings, rows = [], []
    for study, truth in items:
        scores = score_study(model, study) if len(study) else np.zeros(0)
        qualifying = np.asarray(truth.truth_share) >= STRICT_SHARE
        for index in np.flatnonzero(~qualifying):
            false_findings.append((float(scores[index]), study.case_id, int(index),
                                   {name: round(float(study.features[index, STUDY_FEATURE_NAMES.index(name)]), 2)
                                    for name in SHOWN}))
        for k, (touching, calibre) in enumerate(zip(truth.emboli, truth.calibres)):
            hits = [i for i in touching if qualifying[i]]
            best = max(hits, key=lambda i: scores[i]) if hits else None
            rows.append({"study": study.case_id, "embolus": k, "calibre": calibre,
                         "score": None if best is None else float(scores[best]),
                         "features": None if best is None else {
                             name: round(float(study.features[best, STUDY_FEATURE_NAMES.index(name)]), 2)
                             for name in SHOWN}})
    fp_scores = np.array([f[0] for f in false_findings])
    budget = 2 * len(items)
    print(f"{len(items)} studies, {len(rows)} emboli, FP budget at 2 per study: {budget}, threshold {card['threshold']}")
    for row in rows:
        above = None if row["score"] is None else int((fp_scores >= row["score"]).sum())
        row["false_findings_above"] = above
        print(json.dumps(row))
    within = sum(1 for r in rows if r["false_findings_above"] is not None and r["false_findings_above"] <= budget)
    print(f"within the budget: {within}/{len(rows)}")
    for score, case, index, features in sorted(false_findings, key=lambda f: -f[0])[:args.top]:
        print(json.dumps({"fp_score": round(score, 5), "study": case, "candidate": index, **features}))


if __name__ == "__main__":
    main()
