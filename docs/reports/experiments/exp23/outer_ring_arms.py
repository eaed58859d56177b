"""Experiment 23e: does a second ring, 6-12 mm around the candidate, add to the shipped rings (1-6 mm)? The same
three columns per plane (lumen share, lung share, lumen directions) for the outer ring, from the cached patches
(16 mm to the patch's edge, so the outer ring is cut at the corners); the shipped recipe (rings-mlp's features plus
these, MIL, leak 0.5, 150 epochs), seeds 0-2; threshold on the tuning caches, held-out read once. The caches are
experiment 23's with the ring columns (``add_rings.py``).

python docs/reports/experiments/exp23/outer_ring_arms.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ...
"""

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp22"))

from arms import figures, scored  # noqa: E402
from caches import load_rule  # noqa: E402
from iexplain_arms import WiderMLP  # noqa: E402

from IExplainLib.candidates import rings  # noqa: E402
from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES, StudyCandidates  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def outer_columns(patches: np.ndarray) -> np.ndarray:
    with mock.patch.object(rings, "RING_MM", (6.0, 12.0)):
        return rings.ring_features(patches)


def with_outer(items):
    out = []
    for study, truth in items:
        extra = outer_columns(study.patches) if len(study) else np.zeros((0, len(rings.RING_NAMES)), np.float32)
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
    parser.add_argument("--arms", nargs="+", default=["rings", "rings+outer"])
    args = parser.parse_args()
    train = with_outer(load_rule(args.train, False, 150))
    tune = with_outer(load_rule(args.tune, True, 150))
    heldout = {name: with_outer(load_rule(path, True, 150)) for name, path in (h.split("=", 1) for h in args.heldout)}

    def narrowed(items, width):
        return [(StudyCandidates(s.case_id, s.features[:, :width], s.patches, s.slice_ranges, s.slice_labels), t)
                for s, t in items]

    report = {}
    for arm in args.arms:
        width = len(STUDY_FEATURE_NAMES) + (len(rings.RING_NAMES) if arm == "rings+outer" else 0)
        arm_train = [s for s, _ in narrowed(train, width)]
        arm_tune = narrowed(tune, width)
        for seed in args.seeds:
            begin = time.process_time()
            torch.manual_seed(seed)
            model = WiderMLP(width)
            train_reducer_model(model, arm_train, "mil", 150, seed=seed, min_pe_share=1.0, bag_leak=0.5)
            threshold, _ = best_f1_threshold(scored(model, arm_tune))
            result = {"cpu": round(time.process_time() - begin, 1),
                      "tune": figures(scored(model, arm_tune), threshold)["froc"]}
            for name, studies in heldout.items():
                block = figures(scored(model, narrowed(studies, width)), threshold)
                result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
            report[f"{arm} seed {seed}"] = result
            print(f"{arm} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
