"""Score a reducer model file on experiment 20's caches under its card's candidate rule, at its card's threshold
(and the FROC from its scores).

python docs/reports/experiments/exp21/score_model.py REDUCER.safetensors NAME=CACHE ...
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))

from arms import figures, scored  # noqa: E402
from caches import load_rule  # noqa: E402

from IExplainLib.candidates.detector import candidate_rule, load_reducer  # noqa: E402

model, card = load_reducer(sys.argv[1])
rule = candidate_rule(card)
for item in sys.argv[2:]:
    name, path = item.split("=", 1)
    block = figures(scored(model, load_rule(path, True, rule.max_mean_hu)), float(card["threshold"]))
    print(name, json.dumps({k: block[k] for k in ("threshold", "tp", "fp", "fn", "f1", "froc",
                                                  "fp_per_negative_study", "by_calibre")}), flush=True)
