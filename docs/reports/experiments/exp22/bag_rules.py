"""Experiment 22: bags anchored at the ends of each run of PE slices.

An embolus's PE slices are exactly the slices it occupies, so the first slice of a run of PE slices is where some
embolus begins and the last where some embolus ends (slice labels only). An end bag holds the candidates lying within
the run that begin within ``tolerance`` slices of its first slice, or end within it of its last: far fewer
candidates than the bag of one PE slice (median 18 on real anatomy), of which the embolus's is more often one.

    rule "slice":       one bag per PE slice (the shipped rule)
    rule "ends":        two bags per run (its first and its last slice's ends)
    rule "slice+ends":  both

Diagnosis (training caches' truth records, read for this table only):
python docs/reports/experiments/exp22/bag_rules.py diagnose CACHE [CACHE ...] --max-mean-hu 150 --tolerance 0 1 2
Arms (as exp21/leak_arms.py, with the bag rule swapped in for training only):
python docs/reports/experiments/exp22/bag_rules.py arms OUT.json TRAIN TUNE --rule ends --tolerance 1 --leak 0.5 ...
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp21"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))

import IExplainLib.candidates.mil as mil  # noqa: E402

per_slice_bags = mil.study_bags


def pe_runs(labels):
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels.astype(int), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def end_bags(study, tolerance):
    first_slice, last_slice = study.slice_ranges[:, 0], study.slice_ranges[:, 1]
    bags = []
    for first, last in pe_runs(study.slice_labels):
        within = (first_slice >= first) & (last_slice <= last)
        for members in (np.flatnonzero(within & (first_slice <= first + tolerance)),
                        np.flatnonzero(within & (last_slice >= last - tolerance))):
            if members.size:
                bags.append(members)
    return bags


def bags_by_rule(study, rule, tolerance, min_pe_share=1.0):
    shipped = per_slice_bags(study, min_pe_share)
    bags = {"slice": shipped.positive_bags, "ends": end_bags(study, tolerance),
            "slice+ends": shipped.positive_bags + end_bags(study, tolerance)}[rule]
    distinct = {tuple(b): b for b in bags}
    return mil.Bags(shipped.negatives, list(distinct.values()), shipped.spans_pe, shipped.pe_share)


def diagnose(caches, max_mean_hu, tolerances):
    from caches import load_rule
    for cache in caches:
        studies = load_rule(cache, True, max_mean_hu)
        rows = [("slice", 0)] + [("ends", t) for t in tolerances]
        for rule, tolerance in rows:
            sizes, holding = [], []
            for study, truth in studies:
                clots = {i for touching in truth.emboli for i in touching if truth.truth_share[i] >= 0.1}
                for members in bags_by_rule(study, rule, tolerance).positive_bags:
                    sizes.append(len(members))
                    holding.append(bool(clots & set(members.tolist())))
            print(f"{cache}: {rule} t={tolerance}: {len(sizes)} bags, median size {np.median(sizes):.0f}, "
                  f"mean {np.mean(sizes):.1f}, holding an embolus {np.mean(holding):.2f}", flush=True)


def main():
    import argparse
    if sys.argv[1] == "diagnose":
        parser = argparse.ArgumentParser()
        parser.add_argument("caches", nargs="+")
        parser.add_argument("--max-mean-hu", type=float)
        parser.add_argument("--tolerance", type=int, nargs="+", default=[0, 1, 2])
        args = parser.parse_args(sys.argv[2:])
        diagnose(args.caches, args.max_mean_hu, args.tolerance)
        return
    rule = sys.argv[sys.argv.index("--rule") + 1]
    tolerance = int(sys.argv[sys.argv.index("--tolerance") + 1])
    for flag in ("--rule", "--tolerance"):
        at = sys.argv.index(flag)
        del sys.argv[at:at + 2]
    mil.study_bags = lambda study, min_pe_share=0.0: bags_by_rule(study, rule, tolerance, min_pe_share)
    del sys.argv[1]
    from leak_arms import main as arms
    arms()


if __name__ == "__main__":
    main()
