"""Overall progress of a whole run (all stages together) and an estimate of the time left.

The worker reports a fraction *within* each stage (``IExplainLib.progress``); a radiologist wants one bar for the
whole run and "about 2 min left" (SlicerMONAIAuto3DSeg#81). Each kind of run has stage weights measured on the
demo models (explaining dominates iExplain; training dominates finetuning); a stage not listed counts as nothing,
so an unknown stage never moves the bar backwards. The estimate is elapsed / done * (1 - done), shown only once
a few percent are done and a few seconds have passed, so the first noisy seconds give no silly numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

# stage -> share of the whole run (each table sums to 1)
DETECT_IEXPLAIN_WEIGHTS = {"read": 0.03, "prepare": 0.02, "explain": 0.9, "assemble": 0.05}
DETECT_SEGMENTER_WEIGHTS = {"read": 0.05, "prepare": 0.05, "segment": 0.85, "assemble": 0.05}
# The candidates worker reports "read" and "candidates" (0 and 1), then writes the segments without a stage of its
# own: the bar waits at 80 % while they are written (a "write" stage, once the library reports one, moves it on).
DETECT_CANDIDATES_WEIGHTS = {"read": 0.05, "candidates": 0.75, "write": 0.2}
FINETUNE_WEIGHTS = {"load": 0.1, "train": 0.85, "validate": 0.05}

MIN_FRACTION_FOR_ESTIMATE = 0.03
MIN_SECONDS_FOR_ESTIMATE = 3.0


class OverallProgress:
    """Feed it progress states (stage + fraction within the stage); read ``fraction`` and ``secondsLeft``."""

    def __init__(self, weights: Mapping[str, float], clock: Callable[[], float] = time.monotonic):
        self.weights = dict(weights)
        self.order = list(self.weights)
        self.clock = clock
        self.startedAt = clock()
        self.fraction = 0.0

    def update(self, stage: str, stageFraction: float | None) -> float:
        """The overall fraction after this event (never decreasing)."""
        if stage == "done":
            self.fraction = 1.0
        elif stage in self.weights:
            before = sum(self.weights[s] for s in self.order[:self.order.index(stage)])
            within = self.weights[stage] * (stageFraction or 0.0)
            self.fraction = max(self.fraction, min(1.0, before + within))
        return self.fraction

    def elapsed(self) -> float:
        return self.clock() - self.startedAt

    def secondsLeft(self) -> float | None:
        """Estimated seconds to the end, or None while too little is done to tell."""
        elapsed = self.elapsed()
        if self.fraction >= 1.0:
            return 0.0
        if self.fraction < MIN_FRACTION_FOR_ESTIMATE or elapsed < MIN_SECONDS_FOR_ESTIMATE:
            return None
        return elapsed / self.fraction * (1.0 - self.fraction)

    def percent(self) -> int:
        return int(round(100 * self.fraction))

    def text(self) -> str:
        """``"37% - about 2 min left"`` (or just ``"37%"`` while there is no estimate)."""
        left = self.secondsLeft()
        if left is None or self.fraction >= 1.0:
            return f"{self.percent()}%"
        return f"{self.percent()}% - {formatDuration(left)} left"


def formatDuration(seconds: float) -> str:
    """``"about 40 s"``, ``"about 3 min"``, ``"about 1 h 20 min"`` (rounded, as an estimate should be)."""
    if seconds < 60:
        return f"about {max(5, int(round(seconds / 5.0)) * 5)} s"
    minutes = int(round(seconds / 60.0))
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def weightsFor(kind: str, method: str = "iexplain") -> dict[str, float]:
    """The stage weights of a run: ``kind`` is "detection" or "finetune"."""
    if kind == "finetune":
        return FINETUNE_WEIGHTS
    if method == "candidates":
        return DETECT_CANDIDATES_WEIGHTS
    return DETECT_SEGMENTER_WEIGHTS if method == "segmenter" else DETECT_IEXPLAIN_WEIGHTS
