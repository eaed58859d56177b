"""Sharing a run's minutes among its phases, so that the whole run ends inside its budget.

Each phase has a share (a weight). When a phase starts it is given ``remaining time x its share / the shares of it
and every phase still to run``: time an earlier phase left unused passes on to the later ones, and a phase that ran
over takes its excess from them, so the last phase ends at the run's end. A phase is a function of its deadline (a
``time.monotonic()`` value) that stops on time with what it has; its result is recorded as soon as it returns, and
``on_record`` (the report writer) runs after every phase, so a finished phase is never lost to a later one's failure.
A phase whose inputs are missing (an earlier phase failed or made nothing) is skipped with the reason.

Inside a phase, :func:`cut_at` stops work that would run past the phase's share at the next network call (a window
batch of attribution, a patch batch of a segmenter): the study in flight is given up with :class:`PhaseTimeUp`,
and the phase keeps what it finished before. The evaluation loops take it per study (``guard=lambda:
cut_at(deadline)``): the studies scored before the cut are kept, not only the sets.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import IExplainError
from ..evaluation.study_sets import StudyCut

STATUSES = ("done", "partial", "skipped", "failed")


class PhaseSkipped(Exception):
    """Raised by a phase that cannot run (its inputs are missing): the run records the reason and goes on."""


class PhaseTimeUp(StudyCut):
    """Raised inside :func:`cut_at` by the first network call after the deadline: the study in flight is given up
    (a :class:`~IExplainLib.evaluation.study_sets.StudyCut`: the evaluation loops given ``guard=`` keep the studies
    they finished)."""


@contextmanager
def cut_at(deadline: float, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Within the block, any torch module called once ``clock()`` has reached ``deadline`` raises
    :class:`PhaseTimeUp` (a global forward pre-hook, removed on leaving): library code that checks the clock only
    between studies (tuning h, the quality sets) is stopped at a window or batch boundary instead of running a long
    study to its end."""
    import torch

    def stop(module, args) -> None:
        if clock() >= deadline:
            raise PhaseTimeUp(f"the phase's share ended inside a study (at {type(module).__name__})")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(stop)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class PhaseRecord:
    name: str
    share: float
    status: str = "pending"
    allotted_s: float = 0.0
    seconds: float = 0.0
    over_s: float = 0.0               # seconds past the phase's deadline (0 when it ended on time)
    message: str = ""
    result: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "share": round(self.share, 4), "status": self.status,
                "allotted_s": round(self.allotted_s, 1), "seconds": round(self.seconds, 1),
                "over_s": round(self.over_s, 1), "message": self.message}


@dataclass
class Phase:
    name: str
    share: float
    run: Callable[[float], dict]      # deadline -> result; result["partial"] True when the time limit cut it


class PhaseBudget:
    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic):
        if not minutes > 0:
            raise IExplainError(f"--minutes must be positive, got {minutes}")
        self.clock = clock
        self.total_s = float(minutes) * 60.0
        self.started = clock()
        self.end = self.started + self.total_s
        self.records: list[PhaseRecord] = []

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())

    def allot(self, share: float, shares_left: float) -> float:
        """Seconds for a phase of ``share`` when ``shares_left`` (its own included) remain to run."""
        return self.remaining() * share / max(shares_left, 1e-12)

    def run(self, phases: list[Phase], on_record: Callable[[list[PhaseRecord]], None] | None = None,
            progress=None) -> list[PhaseRecord]:
        total_share = sum(phase.share for phase in phases)
        if total_share <= 0 or any(phase.share < 0 for phase in phases):
            raise IExplainError("phase shares must be non-negative and not all zero")
        for index, phase in enumerate(phases):
            shares_left = sum(p.share for p in phases[index:])
            record = PhaseRecord(phase.name, phase.share / total_share)
            record.allotted_s = self.allot(phase.share, shares_left)
            deadline = self.clock() + record.allotted_s
            if progress:
                progress("reproduce", index / len(phases), f"phase {phase.name}: {record.allotted_s:.0f} s of "
                         f"{self.remaining():.0f} s left", force=True)
            started = self.clock()
            try:
                record.result = dict(phase.run(deadline) or {})
                record.status = "partial" if record.result.get("partial") else "done"
            except PhaseSkipped as reason:
                record.status, record.message = "skipped", str(reason)
            except KeyboardInterrupt:
                record.status, record.message = "failed", "interrupted"
                self._close(record, started, deadline, on_record)
                raise
            except Exception as error:  # one phase's failure must not lose the others: record it in one line
                record.status = "failed"
                record.message = str(error) if isinstance(error, IExplainError) else \
                    f"{type(error).__name__}: {error}"
            self._close(record, started, deadline, on_record)
            if progress:
                progress("reproduce", (index + 1) / len(phases), f"phase {phase.name} {record.status} in "
                         f"{record.seconds:.0f} s" + (f": {record.message}" if record.message else ""), force=True)
        return self.records

    def _close(self, record: PhaseRecord, started: float, deadline: float, on_record) -> None:
        now = self.clock()
        record.seconds = now - started
        record.over_s = max(0.0, now - deadline)
        self.records.append(record)
        if on_record is not None:
            on_record(self.records)

    def result_of(self, name: str) -> dict | None:
        """The result of a finished (done or partial) phase, else None."""
        for record in self.records:
            if record.name == name and record.status in ("done", "partial"):
                return record.result
        return None

    def summary(self) -> dict:
        return {"minutes": round(self.total_s / 60.0, 3), "seconds_used": round(self.clock() - self.started, 1),
                "ended_inside_budget": self.clock() <= self.end + 1e-6,
                "phases": [record.as_dict() for record in self.records]}
