"""The classifier's slice metrics in the key set its model cards and ``classifier.evaluate`` reports have always
written. The figures come from :func:`IExplainLib.slice_metrics.slice_metrics`; only the names and the way an
undefined figure is written differ, so cards written before and after read the same."""

from __future__ import annotations

from ..slice_metrics import best_f1_threshold, slice_metrics


def card_slice_metrics(metrics: dict) -> dict:
    """``slice_metrics``' result as a card writes it: ``precision`` for PPV, ``positive_slices`` for positives, an
    undefined AUROC as NaN (training logs want a number) and an undefined F1, precision or sensitivity as 0.0."""
    def zero_if_none(value):
        return 0.0 if value is None else value

    return {"auroc": float("nan") if metrics["auroc"] is None else float(metrics["auroc"]),
            "f1": zero_if_none(metrics["f1"]), "precision": zero_if_none(metrics["ppv"]),
            "sensitivity": zero_if_none(metrics["sensitivity"]), "tp": metrics["tp"], "fp": metrics["fp"],
            "fn": metrics["fn"], "threshold": metrics["threshold"], "slices": metrics["slices"],
            "positive_slices": metrics["positives"]}


def validation_metrics(scores, labels) -> dict:
    """Card metrics at the threshold that maximises F1 on these slices (what training stores as the model's h)."""
    threshold, _ = best_f1_threshold(scores, labels)
    return card_slice_metrics(slice_metrics(scores, labels, threshold))
