"""Experiment 22h: do the HU-distribution columns (``hu_features.py``) raise what the features can tell on real
anatomy? The truth-trained MLP (as ``oracle.py``) and the shipped MIL recipe, each with the hand features alone and
with the HU columns, trained on the real-anatomy training studies only, read on the real-anatomy tuning studies only
(the held-out sets are not read).

python docs/reports/experiments/exp22/hu_oracle.py --caches /work/cache/exp20 --extras /work/cache/exp22h
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arms import figures, scored  # noqa: E402
from iexplain_arms import HAND, WiderMLP, joined  # noqa: E402
from self_training import train_instances  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402

ARMS = {"hand": [], "hand+hu": [0, 1, 2, 3, 4]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--caches", type=Path, required=True)
    parser.add_argument("--extras", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    for arm, columns in ARMS.items():
        train = joined(args.caches, args.extras, "real-train", True, columns)
        tune = joined(args.caches, args.extras, "real-tune", True, columns)
        studies = [s for s, _ in train]
        truth = [(np.arange(len(s)), (np.asarray(t.truth_share) >= 0.1).astype(np.float32)) for s, t in train]
        width = HAND + len(columns)
        for seed in args.seeds:
            torch.manual_seed(seed)
            mil = train_reducer_model(WiderMLP(width), studies, "mil", args.epochs, seed=seed, min_pe_share=1.0,
                                      bag_leak=0.5)
            oracle = train_instances(studies, truth, args.epochs, seed, make_model=lambda: WiderMLP(width))
            for name, model in (("mil", mil), ("oracle", oracle)):
                threshold, _ = best_f1_threshold(scored(model, tune))
                block = figures(scored(model, tune), threshold)
                print(f"{arm} {name} seed {seed}", json.dumps({"tune": block["froc"], "studies": len(tune),
                                                               "train": len(studies)}), flush=True)


if __name__ == "__main__":
    main()
