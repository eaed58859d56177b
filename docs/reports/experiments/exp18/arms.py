"""Experiment 18: the false-positive reducer's arms, trained on the same cached candidates (slice labels only) and
scored on held-out studies (truth used for the threshold on tuning seeds and for scoring only).

python docs/reports/experiments/exp18/arms.py TRAIN_CACHE TUNE_CACHE HELDOUT_CACHE OUT.json [--epochs 30] [--arms a,b]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from IExplainLib.candidates.mil import score_study, train_reducer_model
from IExplainLib.candidates.reducer import build_reducer
from IExplainLib.candidates.training_data import StudyCandidates
from IExplainLib.evaluation.froc import (ScoredStudy, best_f1_threshold, froc_points, pooled_counts,
                                         sensitivity_by_calibre)

ARMS = {
    "mlp-naive": ("features-mlp", "naive", {}),
    "mlp-mil": ("features-mlp", "mil", {}),
    "cnn-mil": ("patch-cnn", "mil", {"use_features": True}),
    "cnn-mil-nofeatures": ("patch-cnn", "mil", {"use_features": False}),
    "cnn-naive": ("patch-cnn", "naive", {"use_features": True}),
    "mlp-soft": ("features-mlp", "soft", {}),
    "mlp-mil-share50": ("features-mlp", "mil", {}, 0.5),
    "mlp-mil-share100": ("features-mlp", "mil", {}, 1.0),
    "cnn-mil-share100": ("patch-cnn", "mil", {"use_features": True}, 1.0),
    "cnn-soft": ("patch-cnn", "soft", {"use_features": True}),
    "cnn-mil-share100-nofeatures": ("patch-cnn", "mil", {"use_features": False}, 1.0),
}


def load(cache: Path, with_truth: bool):
    studies = []
    for path in sorted((cache / "train").glob("*.npz")):
        data = StudyCandidates.load(path)
        truth = None
        if with_truth:
            record = json.loads((cache / "truth" / (path.stem + ".json")).read_text())
            truth = ScoredStudy(np.zeros(len(data)), np.asarray(record["truth_share"]), record["emboli"],
                                record["levels"])
        studies.append((data, truth))
    return studies


def scored(model, studies):
    return [ScoredStudy(score_study(model, data), truth.truth_share, truth.emboli, truth.calibres)
            for data, truth in studies]


def figures(studies, threshold):
    counts = pooled_counts(studies, threshold)
    negatives = [s for s in studies if not s.emboli]
    fp_negative = (sum(s.counts(threshold).fp for s in negatives) / len(negatives)) if negatives else None
    return {"threshold": round(threshold, 4), **counts.as_dict(), "froc": froc_points(studies),
            "fp_per_negative_study": fp_negative, "by_calibre": sensitivity_by_calibre(studies, threshold),
            "studies": len(studies)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("heldout")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--save", help="folder for each arm's state (npz), to ship the winner")
    args = parser.parse_args()
    train = [data for data, _ in load(Path(args.train), False)]
    tune = load(Path(args.tune), True)
    heldout = load(Path(args.heldout), True)
    report = {"train_studies": len(train), "train_candidates": int(sum(len(s) for s in train)),
              "tune_studies": len(tune), "heldout_studies": len(heldout), "epochs": args.epochs, "arms": {}}
    report["candidates_only"] = {"heldout_recall": figures(
        [ScoredStudy(np.ones(len(d)), t.truth_share, t.emboli, t.calibres) for d, t in heldout], 0.5)}
    for name in args.arms.split(","):
        architecture, supervision, options, *share = ARMS[name]
        start = time.process_time()
        model = build_reducer(architecture, **options)
        train_reducer_model(model, train, supervision, args.epochs, seed=0, min_pe_share=share[0] if share else 0.0)
        cpu = time.process_time() - start
        threshold, _ = best_f1_threshold(scored(model, tune))
        report["arms"][name] = {"cpu_seconds": round(cpu, 1), "tune": figures(scored(model, tune), threshold),
                                "heldout": figures(scored(model, heldout), threshold)}
        print(name, json.dumps(report["arms"][name]["heldout"]), flush=True)
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            from safetensors.torch import save_file
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(args.save) / f"{name}.safetensors"))
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
