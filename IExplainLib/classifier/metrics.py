"""Slice-level metrics of the classifier: AUROC, F1 at a threshold, and the threshold that maximises F1."""

from __future__ import annotations

import numpy as np

from ..slice_metrics import auroc


def slice_auroc(labels, scores) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present (training logs want a number).
    The computation is the one ``iexplain evaluate`` uses (``IExplainLib.slice_metrics``), so both report the same
    AUROC."""
    value = auroc(scores, np.asarray(labels).reshape(-1) > 0.5)
    return float("nan") if value is None else float(value)


def f1_at(labels, scores, threshold: float) -> dict:
    labels = np.asarray(labels).reshape(-1) > 0.5
    predicted = np.asarray(scores).reshape(-1) >= threshold
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "sensitivity": recall, "tp": tp, "fp": fp, "fn": fn}


def best_f1_threshold(labels, scores) -> tuple[float, float]:
    """``(threshold, F1)`` maximising F1 over the observed scores (midpoints between neighbours)."""
    labels = np.asarray(labels).reshape(-1) > 0.5
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not labels.any():
        return 0.5, 0.0
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    tp = np.cumsum(sorted_labels)
    fp = np.cumsum(~sorted_labels)
    # only cut where the score changes, so tied scores fall on the same side
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(last_of_run, 2 * tp / (tp + fp + labels.sum()), -1.0)
    best = int(np.argmax(f1))
    below = sorted_scores[best + 1] if best + 1 < len(sorted_scores) else 0.0
    return float((sorted_scores[best] + below) / 2), float(f1[best])


def slice_metrics(labels, scores, threshold: float) -> dict:
    return {"auroc": slice_auroc(labels, scores), **f1_at(labels, scores, threshold), "threshold": threshold,
            "slices": int(np.size(labels)), "positive_slices": int((np.asarray(labels) > 0.5).sum())}
