"""Experiment 22: the iExplain features of each cached candidate (issue 23: "the iExplain heat map's mass on each
candidate, and the slice classifier's score, may be input features; show each one's gain").

For every study of an experiment-20 cache (same seeds, same generator) the CT is made again, its candidates found
again by the cache's rule (the options on, no bound; checked: the same count and the same hand features as the
cache), and the bundled classifier and iExplain run on it:

- ``classifier_max`` / ``classifier_mean``: the slice classifier's PE probability, highest and mean over the
  candidate's slices;
- ``heat_mean`` / ``heat_max``: iExplain's heat map over the candidate's voxels: its first iteration (the map
  Algorithm 1 segments first), with the ``fast`` preset's references (zero, blur) at 4 steps and 1 SmoothGrad sample,
  a quarter of that preset's passes (at the ``fast`` preset itself a study cost about a minute of one core; 122
  studies would not fit a session beside the other work).

Slice labels and truth are not read here. Written beside the cache as ``OUT/<study>.npz``.

python docs/reports/experiments/exp22/extra_features.py CACHE OUT [--real-anatomy] [--first N --count N]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from IExplainLib.candidates.proposals import CandidateRule, find_candidates
from IExplainLib.candidates.training_data import StudyCandidates
from IExplainLib.explain.explainer import IExplainer
from IExplainLib.explain.params import preset_values

CACHE_RULE = CandidateRule(max_mean_hu=None)  # experiment 20's caches: the options on, no bound
EXTRA_NAMES = ("classifier_max", "classifier_mean", "heat_mean", "heat_max")


def study_volume(stem: str, slices: int):
    seed = int(stem.rsplit("-", 1)[1])
    if stem.startswith("real-anatomy"):
        from IExplainLib.evaluation.quality_sets import RealCT
        from IExplainLib.phantoms.real_anatomy import make_real_anatomy_study
        return make_real_anatomy_study(RealCT().anatomy(None), seed, slices=slices).volume
    from IExplainLib.phantoms import make_study
    return make_study(seed, slices=slices, size=512).volume


def extra_features(volume, explainer, cached: StudyCandidates) -> np.ndarray:
    candidates = find_candidates(volume, rule=CACHE_RULE)
    if len(candidates) != len(cached) or not np.allclose(candidates.features(), cached.features, atol=1e-4):
        raise SystemExit(f"{cached.case_id}: the candidates found again differ from the cache's")
    explanation, segmentation = explainer.run(volume)
    probability = np.asarray(explanation.probabilities, np.float32)
    extras = np.zeros((len(cached), len(EXTRA_NAMES)), np.float32)
    if not len(cached):
        return extras
    index = np.arange(1, len(cached) + 1)
    heat = segmentation.heat.astype(np.float32)
    extras[:, 2] = ndimage.mean(heat, candidates.labels, index)
    extras[:, 3] = ndimage.maximum(heat, candidates.labels, index)
    for i, (first, last) in enumerate(cached.slice_ranges):
        extras[i, 0] = probability[first:last + 1].max()
        extras[i, 1] = probability[first:last + 1].mean()
    return extras


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("out")
    parser.add_argument("--first", type=int, default=0, help="index of the first study (sorted) to do")
    parser.add_argument("--count", type=int, default=10 ** 6)
    parser.add_argument("--classifier", default="Resources/Models/demo-classifier.safetensors")
    args = parser.parse_args()
    torch.manual_seed(0)
    explainer = IExplainer(args.classifier)
    explainer = explainer.with_params(explainer.params.replace(**{**preset_values("fast"), "n_steps": 4, "smoothgrad_samples": 1},
                                                           max_iterations=1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = sorted((Path(args.cache) / "train").glob("*.npz"))[args.first:args.first + args.count]
    for path in paths:
        target = out / path.name
        if target.exists():
            continue
        start = time.time()
        cached = StudyCandidates.load(path)
        extras = extra_features(study_volume(path.stem, len(cached.slice_labels)), explainer, cached)
        np.savez_compressed(target, extras=extras, names=np.array(EXTRA_NAMES))
        print(f"{path.stem}: {len(cached)} candidates, {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
