"""Experiment 20: which training studies does the false-positive reducer need? Arms differ in their training (and
tuning) caches only; every arm is scored on the same held-out caches, each set on its own.

python docs/reports/experiments/exp20/arms.py OUT.json --arm NAME=TRAIN[+TRAIN]:TUNE[+TUNE] ... \
    --heldout NAME=CACHE ... [--architecture features-mlp] [--epochs 30] [--save DIR]

Caches are experiment 18's layout (train/: candidates with slice labels only; truth/: for tuning and scoring only).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))

from arms import figures, load, scored  # noqa: E402  (experiment 18's loaders and figures)

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import build_reducer  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def caches(spec: str, with_truth: bool):
    return [item for path in spec.split("+") for item in load(Path(path), with_truth)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--arm", action="append", required=True, help="NAME=TRAIN[+TRAIN]:TUNE[+TUNE]")
    parser.add_argument("--heldout", action="append", required=True, help="NAME=CACHE")
    parser.add_argument("--architecture", default="features-mlp")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--save")
    args = parser.parse_args()
    heldout = {name: load(Path(path), True) for name, path in (h.split("=", 1) for h in args.heldout)}
    report = {"architecture": args.architecture, "epochs": args.epochs, "arms": {},
              "candidates_only": {}}
    import numpy as np
    from IExplainLib.evaluation.froc import ScoredStudy
    for name, studies in heldout.items():
        report["candidates_only"][name] = figures(
            [ScoredStudy(np.ones(len(d)), t.truth_share, t.emboli, t.calibres) for d, t in studies], 0.5)
    for arm in args.arm:
        name, spec = arm.split("=", 1)
        train_spec, tune_spec = spec.split(":")
        train = [data for data, _ in caches(train_spec, False)]
        tune = caches(tune_spec, True)
        options = {"width": args.width} if args.architecture == "patch-cnn" else {}
        start = time.process_time()
        model = build_reducer(args.architecture, **options)
        train_reducer_model(model, train, "mil", args.epochs, seed=0, min_pe_share=1.0)
        cpu = time.process_time() - start
        threshold, _ = best_f1_threshold(scored(model, tune))
        result = {"train_studies": len(train), "tune_studies": len(tune), "cpu_seconds": round(cpu, 1),
                  "tune": figures(scored(model, tune), threshold),
                  "heldout": {set_name: figures(scored(model, studies), threshold)
                              for set_name, studies in heldout.items()}}
        report["arms"][name] = result
        for set_name, block in result["heldout"].items():
            print(name, set_name, json.dumps({k: block[k] for k in ("threshold", "tp", "fp", "fn", "f1", "froc",
                                                                   "fp_per_negative_study")}), flush=True)
        if args.save:
            from safetensors.torch import save_file
            Path(args.save).mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                      str(Path(args.save) / f"{name}.safetensors"))
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
