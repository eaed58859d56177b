"""Experiment 23b: does the mean of several reducers' scores (the shipped recipe, different seeds) rank better than one?
The arms of ``exp21/leak_arms.py`` (features-mlp, MIL, bag min PE share 1, leak 0.5, 150 epochs) for each seed, then
every ensemble of the first k seeds: the threshold at the best strict F1 on the tuning caches, held-out caches scored
at it.

python docs/reports/experiments/exp23/ensemble.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ... \
    [--seeds 0 1 2 3 4] [--sizes 1 3 5]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))

from arms import figures  # noqa: E402
from caches import load_rule  # noqa: E402

from IExplainLib.candidates.mil import score_study, train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import build_reducer  # noqa: E402
from IExplainLib.evaluation.froc import ScoredStudy, best_f1_threshold  # noqa: E402


def scored(models, studies):
    return [ScoredStudy(np.mean([score_study(m, data) for m in models], axis=0) if len(data) else np.zeros(0),
                        truth.truth_share, truth.emboli, truth.calibres) for data, truth in studies]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("--heldout", action="append", default=[], help="NAME=CACHE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--epochs", type=int, default=150)
    args = parser.parse_args()
    train = [study for study, _ in load_rule(args.train, False, 150)]
    tune = load_rule(args.tune, True, 150)
    heldout = {name: load_rule(path, True, 150) for name, path in (h.split("=", 1) for h in args.heldout)}
    models, cpu = [], []
    for seed in args.seeds:
        start = time.process_time()
        torch.manual_seed(seed)
        model = build_reducer("features-mlp")
        models.append(train_reducer_model(model, train, "mil", args.epochs, seed=seed, min_pe_share=1.0,
                                          bag_leak=0.5))
        cpu.append(time.process_time() - start)
    report = {}
    for size in args.sizes:
        # every window of ``size`` consecutive seeds, so that each size has as many arms as there are seeds to spare
        for first in range(0, len(models) - size + 1, size if size > 1 else 1):
            members = models[first:first + size]
            threshold, _ = best_f1_threshold(scored(members, tune))
            result = {"cpu": round(sum(cpu[first:first + size]), 1), "members": args.seeds[first:first + size],
                      "tune": figures(scored(members, tune), threshold)["froc"]}
            for name, studies in heldout.items():
                block = figures(scored(members, studies), threshold)
                result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
            report[f"ensemble of {size} seed {first}"] = result
            print(f"ensemble of {size} seed {first}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
