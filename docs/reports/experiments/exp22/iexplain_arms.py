"""Experiment 22: does the iExplain feature help the reducer? One question, four arms at equal data and epochs: the
hand features alone, + the slice classifier's score, + iExplain's heat map over the candidate, + both
(``extra_features.py``). The shipped recipe otherwise: features-mlp (16 units), MIL with bags of candidates lying
within PE slices, leak 0.5, clot-density bound 150 HU, 30 epochs, seeds 0-2 (the initial weights too); threshold at
the best strict F1 on the tuning studies; both held-out sets read once per arm.

python docs/reports/experiments/exp22/iexplain_arms.py OUT.json --extras /work/cache/exp22 --caches /work/cache/exp20
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))

from arms import figures, load, scored  # noqa: E402
from caches import without_dense  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import _Standardise  # noqa: E402
from IExplainLib.candidates.training_data import StudyCandidates  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402

HAND = 14
ARMS = {"hand": [], "classifier": [0, 1], "heat": [2, 3], "both": [0, 1, 2, 3]}


class WiderMLP(nn.Module):
    """The features-mlp over the hand features and the chosen extra columns."""

    def __init__(self, width: int, hidden: int = 16):
        super().__init__()
        self.standardise = _Standardise(width)
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, patches, features):
        return self.head(self.standardise(features)).squeeze(1)


def joined(caches: Path, extras: Path, name: str, with_truth: bool, columns: list[int]):
    """The cache's studies that have extras, with the chosen extra columns appended, then the 150-HU bound."""
    done = {p.stem for p in (extras / name).glob("*.npz")}
    studies = []
    for study, truth in load(caches / name, with_truth):
        if study.case_id not in done:
            continue
        with np.load(extras / name / f"{study.case_id}.npz") as data:
            extra = data["extras"][:, columns]
        extra = np.where(np.isfinite(extra), extra, 0.0).astype(np.float32)
        wide = StudyCandidates(study.case_id, np.concatenate([study.features, extra], 1), study.patches,
                               study.slice_ranges, study.slice_labels)
        studies.append(without_dense((wide, truth), 150.0))
    return studies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--extras", type=Path, required=True)
    parser.add_argument("--caches", type=Path, required=True)
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--leak", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    report = {}
    for arm in args.arms:
        columns = ARMS[arm]
        train = [s for name in ("synth-train", "real-train") for s, _ in joined(args.caches, args.extras, name,
                                                                               False, columns)]
        tune = [x for name in ("synth-tune", "real-tune") for x in joined(args.caches, args.extras, name, True, columns)]
        heldout = {name: joined(args.caches, args.extras, name, True, columns) for name in ("synth-held", "real-held")}
        for seed in args.seeds:
            start = time.process_time()
            torch.manual_seed(seed)
            model = WiderMLP(HAND + len(columns))
            train_reducer_model(model, train, "mil", args.epochs, seed=seed, min_pe_share=1.0, bag_leak=args.leak)
            threshold, _ = best_f1_threshold(scored(model, tune))
            result = {"cpu": round(time.process_time() - start, 1), "train": len(train), "tune_studies": len(tune),
                      "tune": figures(scored(model, tune), threshold)["froc"]}
            for name, studies in heldout.items():
                block = figures(scored(model, studies), threshold)
                result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study",
                                                      "studies")}
            report[f"{arm} seed {seed}"] = result
            print(f"{arm} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
