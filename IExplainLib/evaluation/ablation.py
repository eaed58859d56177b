"""The iExplain ablations of the paper (section 4.2): Table 2, Table 3 and Fig. 4, from per-iteration results.

Each study contributes its truth (as PE instances), the segment of every iteration Algorithm 1 ran (before
filtering) and the number of iterations it needed. For each cumulative iteration k (the union of iterations 1..k;
a study that stopped earlier keeps its final union) the pooled finding-level metrics are computed before and after
the cluster filters. The "best iteration" is the k with the highest filtered F1, as in the paper's Table 2, whose
rows are filtered results (its best-iteration row equals Table 3's filtered row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import InputError
from .finding_metrics import FindingCounts, match_mask, truth_instances


@dataclass
class IterationStudy:
    """What the ablation needs of one study: per-iteration labelmap (value k = found in iteration k, earliest wins)
    and the iterations run (0 when the classifier saw no PE at all)."""

    case_id: str
    iteration_labels: np.ndarray  # (z, y, x) ints, 0 = nothing
    iterations: int
    true_labels: np.ndarray
    true_count: int
    source: str = "phantom"
    volume: Any = None  # the CT (a Volume, HU): the filters from the CT itself need it

    @classmethod
    def from_truth(cls, case_id: str, iteration_labels: np.ndarray, iterations: int, truth: np.ndarray,
                   source: str = "phantom", truth_as_instances: bool | None = None,
                   volume: Any = None) -> "IterationStudy":
        if np.shape(iteration_labels) != np.shape(truth):
            raise InputError(f"{case_id}: result {np.shape(iteration_labels)} and truth {np.shape(truth)} "
                             "differ in shape")
        labels, count = truth_instances(truth, truth_as_instances)
        return cls(case_id, np.asarray(iteration_labels), int(iterations), labels, count, source, volume)

    def cumulative(self, k: int) -> np.ndarray:
        return (self.iteration_labels > 0) & (self.iteration_labels <= k)


def iteration_curves(studies: list[IterationStudy], max_iterations: int,
                     keep: Callable[[np.ndarray, Any], np.ndarray]) -> list[dict]:
    """Pooled metrics per cumulative iteration k = 1..max: ``[{"k", "unfiltered": {...}, "filtered": {...}}]``.
    ``keep(mask, volume)`` is the finding filter, given the study's CT."""
    if not studies:
        raise InputError("the ablation needs at least one study")
    rows = []
    for k in range(1, max_iterations + 1):
        unfiltered, filtered = FindingCounts(), FindingCounts()
        for study in studies:
            mask = study.cumulative(k)
            unfiltered = unfiltered + match_mask(mask, study.true_labels, study.true_count)
            filtered = filtered + match_mask(keep(mask, study.volume), study.true_labels, study.true_count)
        rows.append({"k": k, "unfiltered": unfiltered.as_dict(), "filtered": filtered.as_dict()})
    return rows


def iteration_histogram(studies: Iterable[IterationStudy], max_iterations: int) -> dict:
    """Studies per number of iterations needed, 0..max (0: the classifier saw no PE in the study)."""
    counts = [0] * (max_iterations + 1)
    for study in studies:
        counts[min(study.iterations, max_iterations)] += 1
    return {"iterations": list(range(max_iterations + 1)), "studies": counts}


def _f1(row: dict, key: str) -> float:
    return row[key]["f1"] if row[key]["f1"] is not None else -1.0


def _table_row(row: dict, key: str, **labels) -> dict:
    metrics = row[key]
    return {**labels, "sensitivity": metrics["sensitivity"], "ppv": metrics["ppv"], "f1": metrics["f1"],
            "tp": metrics["tp"], "fp": metrics["fp"], "fn": metrics["fn"]}


def summarise(studies: list[IterationStudy], max_iterations: int,
              keep: Callable[[np.ndarray, Any], np.ndarray]) -> dict:
    """Table 2 (iteration 1 vs best), Table 3 (unfiltered vs filtered, at the best and at the last iteration),
    Fig. 4 data (curves and histogram)."""
    curves = iteration_curves(studies, max_iterations, keep)
    best = max(curves, key=lambda row: (_f1(row, "filtered"), -row["k"]))  # earliest k among ties
    first, last = curves[0], curves[-1]
    table2 = [_table_row(first, "filtered", iteration=1, best=best["k"] == 1),
              _table_row(best, "filtered", iteration=best["k"], best=True)]
    table3 = [_table_row(best, "unfiltered", iteration=best["k"], filtered=False),
              _table_row(best, "filtered", iteration=best["k"], filtered=True),
              _table_row(last, "unfiltered", iteration=last["k"], filtered=False),
              _table_row(last, "filtered", iteration=last["k"], filtered=True)]
    true_pes = sum(study.true_count for study in studies)
    return {"studies": len(studies), "true_pes": true_pes, "best_iteration": best["k"],
            "table2_iterations": table2, "table3_filtering": table3,
            "fig4": {"curves": curves, "histogram": iteration_histogram(studies, max_iterations)},
            "per_study": [{"case": s.case_id, "source": s.source, "iterations": s.iterations,
                           "true_pes": s.true_count} for s in studies]}
