"""Choosing the explainer's high heat-map threshold h on an evaluation set (paper 3.2 and 4.2).

The paper picks a *high-sensitivity* operating point before cluster filtering and lets the filters restore the PPV.
Integrated Gradients is the expensive part and does not depend on h, while clustering is cheap: the heat map of
every study is computed once, and h is swept over the cached maps. The chosen h is the largest one (fewest false
clusters) whose pooled, unfiltered sensitivity reaches the target; when no h on the grid reaches it, the most
sensitive one is chosen (the largest h among equally sensitive ones) and the report says the target was not met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import InputError
from .finding_metrics import FindingCounts, match_mask, truth_instances

DEFAULT_GRID_FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)


@dataclass
class CachedStudy:
    """One evaluation study reduced to what the sweep needs: the cached explainer output that ``cluster(heat, h)``
    turns into a mask (a heat map array, or the explainer's per-window cache), and the truth as PE instances."""

    case_id: str
    heat: Any             # anything with ``.shape`` == the truth's (z, y, x) shape
    true_labels: np.ndarray
    true_count: int
    volume: Any = None  # the CT (a Volume, HU): the filters from the CT itself need it

    @classmethod
    def from_truth(cls, case_id: str, heat: Any, truth: np.ndarray,
                   truth_as_instances: bool | None = None, volume: Any = None) -> "CachedStudy":
        if tuple(heat.shape) != tuple(np.shape(truth)):
            raise InputError(f"{case_id}: heat map {tuple(heat.shape)} and truth {np.shape(truth)} differ in shape")
        labels, count = truth_instances(truth, truth_as_instances)
        return cls(case_id, heat, labels, count, volume)


def default_grid(centre: float) -> list[float]:
    """A geometric grid around ``centre`` (the current h), from a quarter to four times it."""
    return [round(centre * factor, 6) for factor in DEFAULT_GRID_FACTORS]


def parse_grid(text: str) -> list[float]:
    """``"2,4,8"`` -> ``[2.0, 4.0, 8.0]`` (sorted, positive, no duplicates)."""
    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"--grid {text!r} must be comma-separated numbers, e.g. 2,4,8,16") from None
    if not values or values[0] <= 0:
        raise InputError(f"--grid {text!r} needs at least one threshold, all > 0")
    return values


def sweep_thresholds(studies: Iterable[CachedStudy], grid: Iterable[float],
                     cluster: Callable[[Any, float], np.ndarray],
                     keep: Callable[[np.ndarray, Any], np.ndarray]) -> list[dict]:
    """Pooled finding counts before and after filtering for each h on the grid.

    ``cluster(heat, h)`` is the explainer's clustering at h (low = h * low_ratio) giving the study mask before
    filtering, ``keep(mask, volume)`` its finding filter (given the study's CT). Returns one row per h: ``{"high_threshold", "unfiltered": {...}, "filtered": {...}}``.
    """
    studies = list(studies)
    grid = sorted(float(h) for h in grid)
    if not studies:
        raise InputError("threshold tuning needs at least one evaluation study")
    if not any(study.true_count for study in studies):
        raise InputError("the evaluation set has no true PE: sensitivity cannot be tuned on it")
    rows = []
    for h in grid:
        unfiltered, filtered = FindingCounts(), FindingCounts()
        for study in studies:
            mask = np.asarray(cluster(study.heat, h)) > 0
            unfiltered = unfiltered + match_mask(mask, study.true_labels, study.true_count)
            filtered = filtered + match_mask(keep(mask, study.volume), study.true_labels, study.true_count)
        rows.append({"high_threshold": h, "unfiltered": unfiltered.as_dict(), "filtered": filtered.as_dict()})
    return rows


def choose_threshold(rows: list[dict], target_sensitivity: float) -> dict:
    """The largest h whose unfiltered sensitivity reaches the target, else the largest of the most sensitive h."""
    if not 0.0 < target_sensitivity <= 1.0:
        raise InputError(f"target sensitivity must lie in (0, 1], got {target_sensitivity}")
    if not rows:
        raise InputError("empty threshold grid")
    meeting = [row for row in rows if (row["unfiltered"]["sensitivity"] or 0.0) >= target_sensitivity]
    if meeting:
        chosen = max(meeting, key=lambda row: row["high_threshold"])
        return {**chosen, "target_met": True}
    # among equally sensitive thresholds the largest (fewest false clusters, as when the target is met)
    best = max(rows, key=lambda row: ((row["unfiltered"]["sensitivity"] or 0.0), row["high_threshold"]))
    return {**best, "target_met": False}
