"""Experiment 22b: does self-training close the gap between slice labels and the truth (oracle 0.59 at 2 FP on real
anatomy against 0.18-0.25)? After the shipped MIL recipe, each positive bag's best-scored candidate becomes a positive
instance, the other candidates of positive bags are left out, every negative stays; a fresh MLP is trained on those
instance labels (mi-SVM's alternation, Andrews et al. 2003), for ``--rounds`` rounds. The comparison at equal epochs:
MIL alone for (rounds + 1) x 30 epochs. Slice labels only; truth read for the threshold and scoring only.

python docs/reports/experiments/exp22/self_training.py OUT.json TRAIN[+TRAIN] TUNE[+TUNE] --heldout NAME=CACHE ...
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))

from arms import figures, scored  # noqa: E402
from caches import load_rule  # noqa: E402

from IExplainLib.candidates.mil import score_study, study_bags, train_reducer_model  # noqa: E402
from IExplainLib.candidates.reducer import build_reducer  # noqa: E402
from IExplainLib.evaluation.froc import best_f1_threshold  # noqa: E402


def instance_labels(model, studies, min_score):
    """Per study: (indices, targets) of the candidates labelled this round."""
    labelled = []
    for study in studies:
        bags = study_bags(study, 1.0)
        scores = score_study(model, study)
        positives = {int(members[np.argmax(scores[members])]) for members in bags.positive_bags
                     if scores[members].max() >= min_score}
        index = np.concatenate([bags.negatives, np.array(sorted(positives), int)]).astype(int)
        target = np.concatenate([np.zeros(len(bags.negatives)), np.ones(len(positives))]).astype(np.float32)
        labelled.append((index, target))
    return labelled


def train_instances(studies, labelled, epochs, seed, lr=2e-3, make_model=lambda: build_reducer("features-mlp")):
    torch.manual_seed(seed)
    model = make_model()
    model.standardise.fit(torch.from_numpy(np.concatenate([s.features for s in studies])))
    usable = [i for i, (index, _) in enumerate(labelled) if len(index)]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * len(usable))
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        for i in rng.permutation(usable):
            index, target = labelled[i]
            logits = model(None, torch.from_numpy(studies[i].features))[torch.from_numpy(index)]
            positive = target > 0
            # negatives outnumber positives by hundreds: each side weighs half of the study's loss
            weight = np.where(positive, 0.5 / max(positive.sum(), 1), 0.5 / max((~positive).sum(), 1))
            loss = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(target),
                                                      weight=torch.from_numpy(weight.astype(np.float32)),
                                                      reduction="sum")
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("train")
    parser.add_argument("tune")
    parser.add_argument("--heldout", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--min-score", type=float, default=0.0)
    parser.add_argument("--leak", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    train = [study for study, _ in load_rule(args.train, False, 150.0)]
    tune = load_rule(args.tune, True, 150.0)
    heldout = {name: load_rule(path, True, 150.0) for name, path in (h.split("=", 1) for h in args.heldout)}
    report = {}

    def record(name, model, cpu):
        threshold, _ = best_f1_threshold(scored(model, tune))
        result = {"cpu": round(cpu, 1), "tune": figures(scored(model, tune), threshold)["froc"]}
        for held, studies in heldout.items():
            block = figures(scored(model, studies), threshold)
            result[held] = {k: block[k] for k in ("froc", "tp", "fp", "fn", "f1", "fp_per_negative_study")}
        report[name] = result
        print(name, json.dumps(result), flush=True)

    for seed in args.seeds:
        start = time.process_time()
        torch.manual_seed(seed)
        model = train_reducer_model(build_reducer("features-mlp"), train, "mil", 30 * (args.rounds + 1), seed=seed,
                                    min_pe_share=1.0, bag_leak=args.leak)
        record(f"mil {30 * (args.rounds + 1)} epochs seed {seed}", model, time.process_time() - start)
        start = time.process_time()
        torch.manual_seed(seed)
        model = train_reducer_model(build_reducer("features-mlp"), train, "mil", 30, seed=seed, min_pe_share=1.0,
                                    bag_leak=args.leak)
        for round_ in range(args.rounds):
            model = train_instances(train, instance_labels(model, train, args.min_score), 30, seed)
            record(f"self-training round {round_ + 1} seed {seed}", model, time.process_time() - start)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
