"""Slice-level metrics, the one implementation behind the classifier's validation (model cards,
``python -m IExplainLib.classifier.evaluate``), ``iexplain evaluate --slice-scores`` and ``iexplain quality``.

Every function takes ``(scores, labels)`` in that order. Labels are 0/1 or bool (non-zero is a PE slice); scores are
compared with a threshold as float64, the precision :func:`best_f1_threshold` chooses its cut in, so the F1 a model
card reports at its tuned threshold is the F1 the tuning found.

AUROC is computed exactly as the Mann-Whitney statistic (probability that a random positive slice scores above a
random negative one, ties counting one half) from SciPy's tie-averaged ranks: no scikit-learn needed. TP / FP / FN
become sensitivity, PPV and F1 through :class:`~IExplainLib.detection_counts.FindingCounts`, as finding-level
metrics do.
"""

from __future__ import annotations

import numpy as np

from .detection_counts import FindingCounts


def _scores_and_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    return scores, labels


def auroc(scores, labels) -> float | None:
    """Area under the ROC curve; None when only one class is present (undefined)."""
    from scipy.stats import rankdata

    scores, labels = _scores_and_labels(scores, labels)
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)  # ties get the average rank, which is the "ties count one half" rule
    rank_sum = float(ranks[labels].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def slice_counts(scores, labels, threshold: float = 0.5) -> FindingCounts:
    """TP / FP / FN of slices called positive when ``score >= threshold``."""
    scores, labels = _scores_and_labels(scores, labels)
    called = scores >= threshold
    return FindingCounts(tp=int((called & labels).sum()), fp=int((called & ~labels).sum()),
                         fn=int((~called & labels).sum()))


def slice_metrics(scores, labels, threshold: float = 0.5) -> dict:
    """``{"slices", "positives", "auroc", "threshold", "tp", "fp", "fn", "sensitivity", "ppv", "f1"}``; a figure
    that is undefined (one class only, nothing called positive) is None, never 0 or 1."""
    scores, labels = _scores_and_labels(scores, labels)
    return {"slices": int(labels.size), "positives": int(labels.sum()), "auroc": auroc(scores, labels),
            "threshold": threshold, **slice_counts(scores, labels, threshold).as_dict()}


def best_f1_threshold(scores, labels) -> tuple[float, float]:
    """``(threshold, F1)`` maximising F1 over the observed scores (midpoints between neighbours); ``(0.5, 0.0)``
    without a positive slice. The F1 is :class:`FindingCounts`'s formula, 2 TP / (2 TP + FP + FN), at every cut."""
    scores, labels = _scores_and_labels(scores, labels)
    if not labels.any():
        return 0.5, 0.0
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    tp = np.cumsum(sorted_labels)
    fp = np.cumsum(~sorted_labels)
    # only cut where the score changes, so tied scores fall on the same side; tp + fp + positives = 2 TP + FP + FN
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(last_of_run, 2 * tp / (tp + fp + labels.sum()), -1.0)
    best = int(np.argmax(f1))
    below = sorted_scores[best + 1] if best + 1 < len(sorted_scores) else 0.0
    return float((sorted_scores[best] + below) / 2), float(f1[best])
