"""Experiment 24a: does the reducer gain from knowing the study a candidate comes from? Real anatomy's candidates
come 300-600 a study, the phantoms' 80-200, and the look-alikes differ with them; one MLP over both sets learns
one rule for both (experiment 22h: the phantoms' clots teach what real anatomy contradicts). Each candidate here also
reads three columns of its study, from the cache alone (no CT, no truth): the log of candidates per slice and the
median mean HU and median contrast of the study's candidates. The shipped recipe (rings-mlp's 23 columns, MIL, leak
0.5, 150 epochs) with and without them, seeds 0-2; threshold on the tuning caches, held-out read once. ``--oracle``
adds each arm trained on the truth (a candidate at least 10% embolus positive; never shipped), read on the tuning
caches only: the ceiling of the columns. Experiment 24f: the same with each bag's soft maximum (``--bag-sharpness``);
24g: ``--arms rings+hu-context``, the two HU columns without the count of candidates per slice; 24h: ``--arms
rings+density``, candidates per litre of chest region (``region_litres.py``) in place of the count per slice.

python docs/reports/experiments/exp24/context_arms.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ...
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
from iexplain_arms import WiderMLP  # noqa: E402
from self_training import train_instances  # noqa: E402

from IExplainLib.candidates.mil import train_reducer_model  # noqa: E402
from IExplainLib.candidates.proposals import FEATURE_NAMES  # noqa: E402
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES, StudyCandidates  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402

SHIPPED = len(STUDY_FEATURE_NAMES)


LITRES: dict[str, float] = {}  # chest region litres of each study (24h; region_litres.json beside its cache)
CONTEXT = 4


def study_context(study: StudyCandidates) -> np.ndarray:
    features = study.features
    per_slice = np.log(max(len(study), 1) / max(len(study.slice_labels), 1))
    per_litre = np.log(max(len(study), 1) / LITRES[study.case_id]) if study.case_id in LITRES else np.nan
    return np.array([per_slice, np.median(features[:, FEATURE_NAMES.index("mean_hu")]),
                     np.median(features[:, FEATURE_NAMES.index("contrast_hu")]), per_litre], np.float32)


def with_context(items):
    out = []
    for study, truth in items:
        if len(study):
            extra = np.repeat(study_context(study)[None], len(study), 0)
            study = StudyCandidates(study.case_id, np.concatenate([study.features, extra], 1), study.patches,
                                    study.slice_ranges, study.slice_labels)
        else:
            study = StudyCandidates(study.case_id, np.zeros((0, SHIPPED + CONTEXT), np.float32), study.patches,
                                    study.slice_ranges, study.slice_labels)
        out.append((study, truth))
    return out


def by_kind(model, items, threshold):
    """Tuning sensitivity at 2 false findings a study, the phantoms' and real anatomy's apart."""
    return {kind: figures(scored(model, [x for x in items if x[0].case_id.startswith(kind)]), threshold)["froc"]["2"]
            for kind in ("phantom", "real-anatomy")}


# each arm's columns: the shipped 23, then the context's (log candidates per slice, median mean HU, median contrast);
# "hu-context" leaves out the count, which depends on the slab's geometry (experiment 24g); "density" has candidates per
# litre of chest region instead (24h)
ARM_COLUMNS = {"rings": list(range(SHIPPED)), "rings+context": list(range(SHIPPED + 3)),
               "rings+hu-context": list(range(SHIPPED)) + [SHIPPED + 1, SHIPPED + 2],
               "rings+density": list(range(SHIPPED)) + [SHIPPED + 3, SHIPPED + 1, SHIPPED + 2]}


def narrowed(items, columns):
    return [(StudyCandidates(s.case_id, s.features[:, columns], s.patches, s.slice_ranges, s.slice_labels), t)
            for s, t in items]


def train_and_score(arm_train, arm_tune, heldout: dict, columns: list[int], seed: int, epochs: int,
                    bag_sharpness: float | None) -> dict:
    """The shipped recipe (WiderMLP over ``columns``, MIL, leak 0.5) trained on ``arm_train``, its threshold at the
    best strict F1 on ``arm_tune``, then each held-out set read once: the arm's figures."""
    begin = time.process_time()
    torch.manual_seed(seed)
    model = train_reducer_model(WiderMLP(len(columns)), [s for s, _ in arm_train], "mil", epochs, seed=seed,
                                min_pe_share=1.0, bag_leak=0.5, bag_sharpness=bag_sharpness)
    threshold, _ = best_f1_threshold(scored(model, arm_tune))
    result = {"cpu": round(time.process_time() - begin, 1), "tune": figures(scored(model, arm_tune), threshold)["froc"],
              "tune_by_kind": by_kind(model, arm_tune, threshold)}
    for name, studies in heldout.items():
        block = figures(scored(model, narrowed(studies, columns)), threshold)
        result[name] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
    return result


def arm_parser(default_arms: list[str]) -> argparse.ArgumentParser:
    """The arm scripts' common arguments: OUT.json, the training and tuning caches, held-out caches, seeds, epochs
    and the arms to run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("--heldout", action="append", default=[], help="NAME=CACHE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--arms", nargs="+", default=default_arms)
    return parser


def main():
    parser = arm_parser(["rings", "rings+context"])
    parser.add_argument("--oracle", action="store_true")
    parser.add_argument("--bag-sharpness", type=float, help="each bag's soft maximum (24f; default: the maximum)")
    args = parser.parse_args()
    for spec in [args.train, args.tune] + [h.split("=", 1)[1] for h in args.heldout]:
        for folder in spec.split("+"):
            if (Path(folder) / "region_litres.json").exists():
                LITRES.update(json.loads((Path(folder) / "region_litres.json").read_text()))
    train = with_context(load_rule(args.train, True, 150))
    tune = with_context(load_rule(args.tune, True, 150))
    heldout = {name: with_context(load_rule(path, True, 150)) for name, path in (h.split("=", 1) for h in args.heldout)}
    report = {}
    for arm in args.arms:
        columns = ARM_COLUMNS[arm]
        width = len(columns)
        arm_train = narrowed(train, columns)
        arm_tune = narrowed(tune, columns)
        for seed in args.seeds:
            result = train_and_score(arm_train, arm_tune, heldout, columns, seed, args.epochs, args.bag_sharpness)
            report[f"{arm} seed {seed}"] = result
            print(f"{arm} seed {seed}", json.dumps(result), flush=True)
            if args.oracle:
                labelled = [(np.arange(len(s)), (np.asarray(t.truth_share) >= 0.1).astype(np.float32))
                            for s, t in arm_train]
                oracle = train_instances([s for s, _ in arm_train], labelled, args.epochs, seed,
                                         make_model=lambda: WiderMLP(width))
                threshold, _ = best_f1_threshold(scored(oracle, arm_tune))
                result = {"tune": figures(scored(oracle, arm_tune), threshold)["froc"],
                          "tune_by_kind": by_kind(oracle, arm_tune, threshold)}
                report[f"oracle {arm} seed {seed}"] = result
                print(f"oracle {arm} seed {seed}", json.dumps(result), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
