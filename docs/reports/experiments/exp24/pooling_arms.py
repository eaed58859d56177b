"""Experiment 24e: the bag's score as a soft maximum of its candidates' logits instead of the maximum. Real anatomy's
bags hold 14 candidates (median) and the embolus in about half of them (22a); with the maximum only the bag's top
candidate learns, so whatever ranks first early on is pushed up for good. The log-mean-exp of the logits at sharpness
``r`` (``(1/r) log mean exp(r * logit)``: the mean at r -> 0, the maximum at r -> inf) spreads the bag's gradient
over its likely members. Everything else is the shipped recipe (rings-mlp, leak 0.5, 150 epochs, min PE share 1),
seeds 0-2; threshold on the tuning caches, held-out read once. The arms r = 0.5, 1, 2 and 4 ran with this script's
own copy of the soft maximum (the same formula, replacing ``mil.study_loss``); it is now ``mil.bag_logit``, and r = 0.5
seed 0 run again through it gave the same figures.

python docs/reports/experiments/exp24/pooling_arms.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ...
    [--sharpness 1 4]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arms import figures, scored  # noqa: E402
from caches import load_rule  # noqa: E402
from context_arms import by_kind  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import build_reducer  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("--heldout", action="append", default=[], help="NAME=CACHE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sharpness", type=float, nargs="+", default=[1.0, 4.0])
    args = parser.parse_args()
    train = [s for s, _ in load_rule(args.train, False, 150)]
    tune = load_rule(args.tune, True, 150)
    heldout = {name: load_rule(path, True, 150) for name, path in (h.split("=", 1) for h in args.heldout)}
    report = {}
    for sharpness in args.sharpness:
        for seed in args.seeds:
            begin = time.process_time()
            torch.manual_seed(seed)
            model = train_reducer_model(build_reducer("rings-mlp"), train, "mil", 150, seed=seed,
                                        min_pe_share=1.0, bag_leak=0.5, bag_sharpness=sharpness)
            threshold, _ = best_f1_threshold(scored(model, tune))
            result = {"cpu": round(time.process_time() - begin, 1), "tune": figures(scored(model, tune), threshold)["froc"],
                      "tune_by_kind": by_kind(model, tune, threshold)}
            for name, studies in heldout.items():
                block = figures(scored(model, studies), threshold)
                result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
            report[f"soft max r={sharpness:g} seed {seed}"] = result
            print(f"soft max r={sharpness:g} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
