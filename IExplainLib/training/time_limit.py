"""Ending a training loop on time: a step budget that shrinks the schedule to what fits before a deadline.

A loop given a deadline (a ``time.monotonic()`` value) asks :meth:`StepBudget.after_step` after every step. From the
measured seconds per step it shortens ``total`` (never lengthens it) to the steps that still fit, so the learning-rate
schedule, which reads ``total`` live (:func:`~IExplainLib.training.schedule.warmup_linear_decay` takes the budget
as its horizon), still decays to its final rate by the last step; and it says stop once ``total`` steps are done or
the deadline has passed. Without a deadline it is the plain step count.
"""

from __future__ import annotations

import time
from typing import Callable


class StepBudget:
    def __init__(self, total: int, deadline: float | None = None, clock: Callable[[], float] = time.monotonic,
                 margin: float = 0.97):
        self.planned = int(total)
        self.total = int(total)
        self.deadline = deadline
        self.clock = clock
        self.margin = float(margin)     # aim a little short of the deadline: the last step's time varies
        self._first: tuple[int, float] | None = None
        self.cut = False                # True when the deadline shortened the run

    def __int__(self) -> int:
        return self.total

    def after_step(self, step: int) -> bool:
        """Call after step ``step`` (1-based) is done; True: stop now."""
        if self.deadline is None:
            return step >= self.total
        now = self.clock()
        if self._first is None:         # the first step pays for warm-up (allocations, kernel choice): not timed
            self._first = (step, now)
        elif step > self._first[0]:
            per_step = (now - self._first[1]) / (step - self._first[0])
            fits = step + int(max(0.0, self.deadline - now) * self.margin / max(per_step, 1e-9))
            if fits < self.total:
                self.total = max(step, fits)
                self.cut = True
        if now >= self.deadline and step < self.total:
            self.total = step
            self.cut = True
        return step >= self.total

    def as_dict(self) -> dict:
        return {"planned_steps": self.planned, "steps": self.total, "stopped_by_deadline": self.cut}
