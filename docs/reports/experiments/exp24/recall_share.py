"""Experiment 24b's diagnosis (tuning seeds only): for each embolus of freshly generated studies, the largest share
of clot in a candidate that touches it, under rules that differ only in ``min_lumen_share`` (the share of a core's
2 mm shell that must be contrast-filled lumen; 0.03 until session 22). The truth is read to diagnose the candidate
pass; nothing trains on it. The option existed at experiment 24b's commit d4f928f
only.

python docs/reports/experiments/exp24/recall_share.py {real,synth} FIRST_SEED COUNT 0.03,0.01,0.003
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from studies import study_maker  # noqa: E402

from IExplainLib.candidates.proposals import DEFAULT_RULE, find_candidates
from IExplainLib.evaluation.froc import ScoredStudy


def main():
    kind, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    shares = [float(s) for s in sys.argv[4].split(",")]
    make = study_maker(kind)
    for seed in range(first, first + count):
        study = make(seed)
        row = {"seed": seed}
        for share in shares:
            start = time.time()
            candidates = find_candidates(study.volume, rule=replace(DEFAULT_RULE, min_lumen_share=share))
            scored = ScoredStudy.from_labels(candidates.labels, np.zeros(len(candidates)),
                                             study.truth.astype(np.int32), len(study.emboli))
            row[share] = {"n": len(candidates), "best": [round(float(max([scored.truth_share[i] for i in touching],
                                                                          default=0)), 3)
                                                         for touching in scored.emboli],
                          "s": round(time.time() - start, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
