"""TP / FP / FN of a detector, and the sensitivity, PPV and F1 made of them: the one place these ratios are computed.

Finding-level metrics (``evaluation.finding_metrics``, the paper's cluster matching) count emboli; slice-level
metrics (:func:`IExplainLib.slice_metrics.slice_metrics`) count slices. Both report their figures through
:class:`FindingCounts`, so an F1 means the same formula wherever it is printed. The module sits at the package top
(NumPy-free) so the classifier, which must not import ``evaluation/``, can use it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FindingCounts:
    """TP / FP / FN of one study, or summed over studies (``+``)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: "FindingCounts") -> "FindingCounts":
        return FindingCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def true_findings(self) -> int:
        return self.tp + self.fn

    @property
    def sensitivity(self) -> float | None:
        """TP / (TP + FN); None when there is no true PE (undefined, not 0 or 1)."""
        return ratio_or_none(self.tp, self.tp + self.fn)

    @property
    def ppv(self) -> float | None:
        """TP / (TP + FP); None when nothing was predicted."""
        return ratio_or_none(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float | None:
        """2 TP / (2 TP + FP + FN); None when there is neither a true PE nor a prediction."""
        return ratio_or_none(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict:
        return {**asdict(self), "sensitivity": self.sensitivity, "ppv": self.ppv, "f1": self.f1}


def ratio_or_none(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator``; None for an empty denominator (undefined, never reported as 0 or 1)."""
    return None if denominator == 0 else numerator / denominator
