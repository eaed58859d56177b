"""Experiment 20's caches seen through experiment 21's candidate rule: a study without its candidates denser on
average than ``max_mean_hu`` (features and patches of a candidate do not depend on the others, so this is what
``find_candidates`` with that bound finds), the truth record renumbered to match."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp18"))

from arms import load  # noqa: E402

from IExplainLib.candidates.proposals import FEATURE_NAMES  # noqa: E402
from IExplainLib.candidates.training_data import StudyCandidates  # noqa: E402
from IExplainLib.evaluation.froc import ScoredStudy  # noqa: E402


def without_dense(item, max_mean_hu):
    study, truth = item
    if max_mean_hu is None or not len(study):
        return study, truth
    keep = np.flatnonzero(study.features[:, FEATURE_NAMES.index("mean_hu")] < max_mean_hu)
    kept = StudyCandidates(study.case_id, study.features[keep], study.patches[keep], study.slice_ranges[keep],
                           study.slice_labels)
    if truth is None:
        return kept, None
    where = {int(old): new for new, old in enumerate(keep)}
    return kept, ScoredStudy(np.zeros(len(keep)), np.asarray(truth.truth_share)[keep],
                             [[where[i] for i in touching if i in where] for touching in truth.emboli],
                             truth.calibres)


def load_rule(spec: str, with_truth: bool, max_mean_hu):
    """Every study of ``spec`` (caches joined by +) under the bound."""
    return [without_dense(item, max_mean_hu) for path in spec.split("+") for item in load(Path(path), with_truth)]
