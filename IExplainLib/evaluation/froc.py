"""Candidate-level scoring, the way CAD-PE results are reported: FROC points, sensitivity per calibre class, false
findings per study, at any score threshold without rerunning a detector.

A study's scored candidates are disjoint 26-connected components, so strict matching (``finding_metrics``) can be
counted on them directly: a kept candidate *qualifies* when at least ``STRICT_SHARE`` of its voxels are embolus; an
embolus is found when a qualifying kept candidate touches it; every kept candidate that does not qualify is a false
finding. The same counts come from ``score_mask`` on the labelmap of the kept candidates (a test checks this).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .finding_metrics import STRICT_SHARE, FindingCounts

FROC_RATES = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass
class ScoredStudy:
    """One study's candidates: ``scores`` (N,), ``truth_share`` (N,) the embolus share of each candidate's voxels,
    ``emboli`` one list of touching candidate indices per true embolus, ``calibres`` each embolus's class."""

    scores: np.ndarray
    truth_share: np.ndarray
    emboli: list[list[int]]
    calibres: list[str] = field(default_factory=list)

    @classmethod
    def from_labels(cls, labels: np.ndarray, scores: np.ndarray, truth_instances: np.ndarray, true_count: int,
                    calibres: list[str] | None = None) -> "ScoredStudy":
        """From a candidate labelmap (value k = candidate k - 1) and an instance truth mask (1..true_count)."""
        count = len(scores)
        flat_labels = labels.ravel()
        flat_truth = truth_instances.ravel()
        voxels = np.bincount(flat_labels, minlength=count + 1)[1:]
        in_truth = np.bincount(flat_labels, weights=(flat_truth > 0), minlength=count + 1)[1:]
        share = np.where(voxels > 0, in_truth / np.maximum(voxels, 1), 0.0)
        both = (flat_labels > 0) & (flat_truth > 0)
        pairs = np.unique(np.stack([flat_truth[both], flat_labels[both]]), axis=1) if both.any() else np.zeros((2, 0))
        emboli: list[list[int]] = [[] for _ in range(true_count)]
        for embolus, label in pairs.T.astype(int):
            emboli[int(embolus) - 1].append(int(label) - 1)
        return cls(np.asarray(scores, float), share, emboli, list(calibres or ["unknown"] * true_count))

    def counts(self, threshold: float, min_share: float = STRICT_SHARE) -> FindingCounts:
        kept = self.scores >= threshold
        qualifying = kept & (self.truth_share >= min_share)
        found = sum(1 for touching in self.emboli if any(qualifying[i] for i in touching))
        return FindingCounts(tp=found, fp=int((kept & ~qualifying).sum()), fn=len(self.emboli) - found)

    def found_by_calibre(self, threshold: float, min_share: float = STRICT_SHARE) -> dict[str, tuple[int, int]]:
        qualifying = (self.scores >= threshold) & (self.truth_share >= min_share)
        table: dict[str, tuple[int, int]] = {}
        for touching, calibre in zip(self.emboli, self.calibres):
            found, total = table.get(calibre, (0, 0))
            table[calibre] = (found + int(any(qualifying[i] for i in touching)), total + 1)
        return table


def pooled_counts(studies: list[ScoredStudy], threshold: float) -> FindingCounts:
    total = FindingCounts()
    for study in studies:
        total = total + study.counts(threshold)
    return total


def _thresholds(studies: list[ScoredStudy]) -> np.ndarray:
    scores = np.unique(np.concatenate([s.scores for s in studies] + [np.array([np.inf])]))
    return scores[::-1]  # from keeping nothing to keeping everything


def froc_curve(studies: list[ScoredStudy]) -> list[tuple[float, float, float]]:
    """``(threshold, false findings per study, sensitivity)`` at every distinct score, strictest first."""
    if not studies:
        return []
    curve = []
    for threshold in _thresholds(studies):
        counts = pooled_counts(studies, threshold)
        sensitivity = counts.sensitivity if counts.sensitivity is not None else 0.0
        curve.append((float(threshold), counts.fp / len(studies), float(sensitivity)))
    return curve


def froc_points(studies: list[ScoredStudy], rates=FROC_RATES) -> dict[str, float | None]:
    """The best sensitivity at no more than each rate of false findings per study (None: no embolus in the set)."""
    if not any(s.emboli for s in studies):
        return {f"{rate:g}": None for rate in rates}
    curve = froc_curve(studies)
    return {f"{rate:g}": max((sens for _, fp, sens in curve if fp <= rate), default=0.0) for rate in rates}


def best_f1_threshold(studies: list[ScoredStudy]) -> tuple[float, FindingCounts]:
    """The score threshold of the highest pooled strict F1 (the highest such threshold on ties: fewer findings)."""
    best: tuple[float, FindingCounts] | None = None
    for threshold in _thresholds(studies)[1:]:
        counts = pooled_counts(studies, threshold)
        if best is None or (counts.f1 or 0.0) > (best[1].f1 or 0.0):
            best = (float(threshold), counts)
    if best is None:
        return 1.0, FindingCounts()
    return best


def sensitivity_by_calibre(studies: list[ScoredStudy], threshold: float) -> dict[str, dict]:
    table: dict[str, list[int]] = {}
    for study in studies:
        for calibre, (found, total) in study.found_by_calibre(threshold).items():
            row = table.setdefault(calibre, [0, 0])
            row[0] += found
            row[1] += total
    return {calibre: {"found": found, "emboli": total, "sensitivity": round(found / total, 3)}
            for calibre, (found, total) in sorted(table.items())}
