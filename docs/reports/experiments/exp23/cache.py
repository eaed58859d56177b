"""Experiment 23's candidate caches: experiment 18's and 20's layouts (train/: candidates with slice labels only;
truth/: which candidates touch which embolus, for tuning and held-out scoring only), the candidates found by the
default rule with or without the cut at the lumen's holes (``--split-holes MM3``).

python docs/reports/experiments/exp23/cache.py OUT {phantom,real-anatomy} FIRST_SEED COUNT [--split-holes 500]
    [--negative yes|no]   (the quality set's phantoms: 9300 4 --negative no, 9304 2 --negative yes)
(experiment 24b's caches: this script with ``--min-lumen-share 0.003`` at commit d4f928f; experiment 25a's with
``--core-shell`` at commit 695b6df; experiment 25d's with ``--dim-ceiling 100`` at commit 2e7b4b5)
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from IExplainLib.candidates.proposals import DEFAULT_RULE, find_candidates
from IExplainLib.candidates.training_data import study_candidates
from IExplainLib.evaluation.froc import ScoredStudy


def studies_to_write(out: Path, kind: str, first: int, count: int, make):
    """(name, study, start time) of each seed whose candidates ``out`` does not hold yet (a rerun resumes)."""
    for seed in range(first, first + count):
        name = f"{kind}-{seed}"
        if (out / "train" / f"{name}.npz").exists():
            continue
        start = time.time()
        yield name, make(seed), start


def write_study(out: Path, name: str, study, candidates) -> ScoredStudy:
    """One study's candidates (``train/``, slice labels only) and which of them touch which embolus (``truth/``)."""
    data = study_candidates(name, study.volume, candidates, study.slice_labels)
    scored = ScoredStudy.from_labels(candidates.labels, np.zeros(len(candidates)), study.truth, len(study.emboli),
                                     [embolus["level"] for embolus in study.emboli])
    (out / "truth" / f"{name}.json").write_text(json.dumps(
        {"emboli": scored.emboli, "truth_share": scored.truth_share.tolist(), "levels": scored.calibres,
         "calibres": [c.calibre for c in candidates.candidates]}))
    data.save(out / "train" / f"{name}.npz")
    return scored


def cache_parser() -> argparse.ArgumentParser:
    """The cache scripts' common arguments: OUT, the kind of study, the first seed and the count, ``--negative``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("kind", choices=("phantom", "real-anatomy"))
    parser.add_argument("first", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--negative", choices=("yes", "no"), help="phantoms: force PE-negative or PE-positive, as "
                        "the quality sets do (default: drawn from the seed)")
    return parser


def main():
    parser = cache_parser()
    parser.add_argument("--split-holes", type=float, help="split_holes_mm3 of the rule (default: none)")
    args = parser.parse_args()
    rule = replace(DEFAULT_RULE, split_holes_mm3=args.split_holes)
    out = Path(args.out)
    (out / "train").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    (out / "rule.json").write_text(json.dumps(rule.as_dict()))
    if args.kind == "real-anatomy":
        from IExplainLib.evaluation.quality_sets import RealCT
        from IExplainLib.phantoms.real_anatomy import make_real_anatomy_study
        anatomy = RealCT().anatomy(None)

        def make(seed):
            return make_real_anatomy_study(anatomy, seed, slices=48)
    else:
        from IExplainLib.phantoms import make_study

        def make(seed):
            return make_study(seed, slices=64, size=512,
                              negative=None if args.negative is None else args.negative == "yes")
    for name, study, start in studies_to_write(out, args.kind, args.first, args.count, make):
        candidates = find_candidates(study.volume, rule=rule)
        scored = write_study(out, name, study, candidates)
        print(f"{name}: {len(candidates)} candidates, {len(study.emboli)} emboli "
              f"({scored.counts(0.0).tp} found strictly), {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
