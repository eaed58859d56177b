"""Experiment 23d: does what surrounds a candidate within 6 mm, in its three planes, tell clots from the
partial-volume lung vessels that real anatomy's reducer ranks first? Per candidate, from its cached patches (no CT,
no truth): in the axial, coronal and sagittal plane, the ring 1-6 mm around its own voxels: the share of the ring that
is lumen (>= 180 HU), the share that is lung (< -95 HU) and how many of 8 directions around it hold lumen (the
polo-mint and railway-track signs: lumen on every side of a defect). The shipped recipe (MIL, leak 0.5, 150 epochs)
with the hand features alone and with these 9 columns, seeds 0-2; threshold on the tuning caches, held-out read once.
The columns were first computed by this script's own copy of the code that became ``IExplainLib/candidates/rings.py``
(the same values on every study checked); the script now imports that module.

python docs/reports/experiments/exp23/ring_arms.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ...
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp22"))

from arms import figures, scored  # noqa: E402
from caches import load_rule  # noqa: E402
from iexplain_arms import HAND, WiderMLP  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.rings import RING_NAMES, ring_features  # noqa: E402
from IExplainLib.candidates.training_data import StudyCandidates  # noqa: E402

def with_rings(items):
    out = []
    for study, truth in items:
        extra = ring_features(study.patches) if len(study) else np.zeros((0, len(RING_NAMES)), np.float32)
        out.append((StudyCandidates(study.case_id, np.concatenate([study.features, extra], 1), study.patches,
                                    study.slice_ranges, study.slice_labels), truth))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("--heldout", action="append", default=[], help="NAME=CACHE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--arms", nargs="+", default=["hand", "hand+rings"])
    parser.add_argument("--leak", type=float, default=0.5)
    args = parser.parse_args()
    start = time.process_time()
    train = with_rings(load_rule(args.train, False, 150))
    tune = with_rings(load_rule(args.tune, True, 150))
    heldout = {name: with_rings(load_rule(path, True, 150)) for name, path in (h.split("=", 1) for h in args.heldout)}
    print(f"ring columns: {time.process_time() - start:.0f} CPU s", flush=True)

    def narrowed(items, width):
        return [(StudyCandidates(s.case_id, s.features[:, :width], s.patches, s.slice_ranges, s.slice_labels), t)
                for s, t in items]

    report = {}
    for arm in args.arms:
        width = HAND if arm == "hand" else HAND + len(RING_NAMES)
        arm_train = [s for s, _ in narrowed(train, width)]
        arm_tune = narrowed(tune, width)
        for seed in args.seeds:
            begin = time.process_time()
            torch.manual_seed(seed)
            model = WiderMLP(width)
            train_reducer_model(model, arm_train, "mil", args.epochs, seed=seed, min_pe_share=1.0, bag_leak=args.leak)
            from IExplainLib.evaluation.froc import best_f1_threshold
            threshold, _ = best_f1_threshold(scored(model, arm_tune))
            result = {"cpu": round(time.process_time() - begin, 1), "tune": figures(scored(model, arm_tune), threshold)["froc"]}
            for name, studies in heldout.items():
                block = figures(scored(model, narrowed(studies, width)), threshold)
                result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
            report[f"{arm} leak {args.leak} seed {seed}"] = result
            print(f"{arm} leak {args.leak} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
