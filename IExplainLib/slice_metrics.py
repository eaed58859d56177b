"""Slice-level AUROC, shared by the classifier's training logs (``classifier.metrics``) and ``iexplain evaluate``
(``evaluation.slice_metrics``), so both report the same number.

AUROC is computed exactly as the Mann-Whitney statistic (probability that a random positive slice scores above a
random negative one, ties counting one half) from SciPy's tie-averaged ranks: no scikit-learn needed.
"""

from __future__ import annotations

import numpy as np


def auroc(scores, labels) -> float | None:
    """Area under the ROC curve; None when only one class is present (undefined)."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=float).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)  # ties get the average rank, which is the "ties count one half" rule
    rank_sum = float(ranks[labels].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
