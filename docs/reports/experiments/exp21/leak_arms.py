"""Experiment 21: a leaky bag (a PE slice's bag is positive with leak + (1 - leak) * its best score, so a bag whose
embolus no candidate holds no longer forces a look-alike up) and the candidate rule's clot-density bound
(``--max-mean-hu``: candidates denser on average than that dropped). MLP arms at equal epochs, one per leak; the
threshold at the best strict F1 on the tuning caches; every held-out cache scored at it.

python docs/reports/experiments/exp21/leak_arms.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --leak 0 0.3 ... \
    --heldout NAME=CACHE ... [--max-mean-hu 150] [--epochs 30] [--seeds 0 1 2] [--hidden 16]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arms import figures, scored  # noqa: E402  (experiment 18's figures)
from caches import load_rule  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import build_reducer  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("--leak", type=float, nargs="+", required=True)
    parser.add_argument("--heldout", action="append", default=[], help="NAME=CACHE")
    parser.add_argument("--max-mean-hu", type=float)
    parser.add_argument("--share", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--architecture", default="features-mlp")
    parser.add_argument("--supervision", default="mil", help="mil (default), naive or soft (the leak is MIL's only)")
    parser.add_argument("--hidden", type=int, help="features-mlp's hidden units (default: the model's, 16)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds (the initial weights too), one arm each per leak")
    args = parser.parse_args()
    train = [study for study, _ in load_rule(args.train, False, args.max_mean_hu)]
    tune = load_rule(args.tune, True, args.max_mean_hu)
    heldout = {name: load_rule(path, True, args.max_mean_hu) for name, path in (h.split("=", 1) for h in args.heldout)}
    report = {}
    for leak, seed in ((leak, seed) for leak in args.leak for seed in args.seeds):
        start = time.process_time()
        torch.manual_seed(seed)  # the initial weights: arms differ by their leak and seed only
        model = build_reducer(args.architecture, **({"hidden": args.hidden} if args.hidden else {}))
        train_reducer_model(model, train, args.supervision, args.epochs, seed=seed, min_pe_share=args.share, bag_leak=leak)
        cpu = time.process_time() - start
        threshold, _ = best_f1_threshold(scored(model, tune))
        result = {"cpu": round(cpu, 1), "tune": figures(scored(model, tune), threshold)["froc"]}
        for name, studies in heldout.items():
            block = figures(scored(model, studies), threshold)
            result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
        report[f"leak {leak} seed {seed}"] = result
        print(f"leak {leak} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
