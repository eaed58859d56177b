"""Experiment 22 diagnosis: the features-mlp trained on the *truth* (a candidate with at least 10% of its voxels
embolus is positive, every other candidate negative; never shipped) for as long as the shipped MIL recipe, against
that recipe, on the tuning studies only (the held-out sets are not read): how much of the gap is the features, how
much the slice labels.

python docs/reports/experiments/exp22/oracle.py TRAIN[+TRAIN] --tune NAME=CACHE ... [--epochs 150] [--seeds 0 1 2]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arms import figures, scored  # noqa: E402
from caches import load_rule  # noqa: E402
from self_training import train_instances  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import build_reducer  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("--tune", action="append", default=[])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    train = load_rule(args.train, True, 150.0)
    studies = [study for study, _ in train]
    truth_labels = []
    for study, truth in train:
        clot = np.asarray(truth.truth_share) >= 0.1
        truth_labels.append((np.arange(len(study)), clot.astype(np.float32)))
    tune = {name: load_rule(path, True, 150.0) for name, path in (t.split("=", 1) for t in args.tune)}
    every = [x for studies_ in tune.values() for x in studies_]
    for seed in args.seeds:
        torch.manual_seed(seed)
        mil = train_reducer_model(build_reducer("features-mlp"), studies, "mil", args.epochs, seed=seed,
                                  min_pe_share=1.0, bag_leak=0.5)
        oracle = train_instances(studies, truth_labels, args.epochs, seed)
        for name, model in (("mil", mil), ("oracle", oracle)):
            threshold, _ = best_f1_threshold(scored(model, every))
            result = {tuned: figures(scored(model, s), threshold)["froc"] for tuned, s in tune.items()}
            print(f"{name} seed {seed}", json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
