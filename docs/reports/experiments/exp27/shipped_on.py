"""Experiment 27's inference-only arm: a shipped reducer (its 23 columns, unchanged) scoring caches made under
another candidate rule. Threshold at the best strict F1 on the tuning caches (and the card's own, for comparison),
each held-out cache read once.

python docs/reports/experiments/exp27/shipped_on.py REDUCER.safetensors TUNE[+TUNE] --heldout NAME=CACHE ...
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp24"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp26"))

from arms import figures, scored  # noqa: E402
from context_arms import by_kind, narrowed  # noqa: E402
from extra_arms import SHIPPED, with_extras  # noqa: E402

from IExplainLib.candidates.detector import load_reducer  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reducer")
    parser.add_argument("tune")
    parser.add_argument("--heldout", action="append", default=[], help="NAME=CACHE")
    args = parser.parse_args()
    model, card = load_reducer(args.reducer)
    columns = list(range(SHIPPED))
    tune = narrowed(with_extras(args.tune), columns)
    tuned, _ = best_f1_threshold(scored(model, tune))
    for label, threshold in (("tuned", tuned), ("card", float(card["threshold"]))):
        result = {"threshold": threshold, "tune": figures(scored(model, tune), threshold)["froc"],
                  "tune_by_kind": by_kind(model, tune, threshold)}
        for name, path in (h.split("=", 1) for h in args.heldout):
            block = figures(scored(model, narrowed(with_extras(path), columns)), threshold)
            result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
        print(label, json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
