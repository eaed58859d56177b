"""Turns the worker's JSON-lines progress events (``IExplainLib.progress``) into what a progress bar shows.

An event has ``v``, ``stage``, ``fraction`` (0..1 within the stage, or null) and optional ``message``, ``slice``,
``iteration``, ``case``. The last event of a run is ``stage == "done"`` or ``stage == "error"`` (with a one-line
``message``). Lines that are not events are ignored here; the job sends them to the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from IExplainLib.progress import parse_event

STAGE_TITLES = {
    "load": "Loading CT",
    "read": "Reading CT",
    "preprocess": "Preparing",
    "classify": "Classifying slices",
    "explain": "Explaining",
    "cluster": "Clustering",
    "segment": "Segmenting",
    "postprocess": "Filtering findings",
    "write": "Writing results",
    "train": "Training",
    "finetune": "Finetuning",
    "validate": "Validating",
    "done": "Done",
    "error": "Failed",
}


def parseEvent(line: str) -> dict | None:
    """One progress event, or None for any other line (log output, tracebacks, half-written lines)."""
    event = parse_event(line)
    return event if event is not None and isinstance(event.get("stage"), str) else None


@dataclass
class ProgressState:
    """The latest progress of one run, ready for a progress bar."""

    stage: str = ""
    fraction: float | None = None
    message: str = ""
    iteration: int | None = None
    slice: int | None = None
    events: int = 0
    stagesSeen: list[str] = field(default_factory=list)
    finalEvent: dict | None = None

    def update(self, event: dict) -> None:
        stage = str(event["stage"])
        if stage != self.stage:
            self.iteration = None
            self.slice = None
            if stage not in self.stagesSeen:
                self.stagesSeen.append(stage)
        self.stage = stage
        fraction = event.get("fraction")
        self.fraction = None if fraction is None else min(1.0, max(0.0, float(fraction)))
        self.message = str(event.get("message") or "")
        if event.get("iteration") is not None:
            self.iteration = int(event["iteration"])
        if event.get("slice") is not None:
            self.slice = int(event["slice"])
        self.events += 1
        if stage in ("done", "error"):
            self.finalEvent = event

    @property
    def finished(self) -> bool:
        return self.finalEvent is not None

    @property
    def failed(self) -> bool:
        return self.finalEvent is not None and self.finalEvent.get("stage") == "error"

    def percent(self) -> int | None:
        """0..100 within the current stage, or None when the stage gives no fraction (show a busy bar)."""
        return None if self.fraction is None else int(round(100 * self.fraction))

    def text(self) -> str:
        """For example ``Explaining: iteration 2, slice 41 (37%)``."""
        title = STAGE_TITLES.get(self.stage, self.stage.replace("_", " ").capitalize())
        details = []
        if self.iteration is not None:
            details.append(f"iteration {self.iteration}")
        if self.slice is not None:
            details.append(f"slice {self.slice}")
        text = title + (": " + ", ".join(details) if details else "")
        if self.message and self.stage not in ("done",):
            text += f" - {self.message}"
        percent = self.percent()
        return text if percent is None or self.stage in ("done", "error") else f"{text} ({percent}%)"
