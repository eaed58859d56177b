"""Progress reporting shared by the CLI, the Slicer module's worker process and training loops.

Two renderings of the same events: a human line on stderr (the default), or one JSON object per line on stdout
(``--progress json``), which the Slicer module parses to drive its progress bar. A JSON event always has ``stage`` and
``fraction`` (0..1 within the stage, or null) and may carry ``message``, ``slice``, ``iteration``, ``case`` and
numbers such as ``loss``. The final event of a successful run has ``stage == "done"``; a failure ends with
``stage == "error"`` and a one-line ``message``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

PROTOCOL_VERSION = 1


class Progress:
    """Emit progress events; ``mode`` is ``"text"``, ``"json"`` or ``"quiet"``."""

    def __init__(self, mode: str = "text", stream: TextIO | None = None, min_interval_s: float = 0.5):
        if mode not in ("text", "json", "quiet"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        self.stream = stream
        self.min_interval_s = min_interval_s
        self._last_text: float | None = None

    def _out(self) -> TextIO:
        if self.stream is not None:
            return self.stream
        return sys.stdout if self.mode == "json" else sys.stderr

    def __call__(self, stage: str, fraction: float | None = None, message: str = "", **fields: Any) -> None:
        self.emit(stage, fraction, message, **fields)

    def emit(self, stage: str, fraction: float | None = None, message: str = "", force: bool = False,
             **fields: Any) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "json":
            event = {"v": PROTOCOL_VERSION, "stage": stage,
                     "fraction": None if fraction is None else round(float(fraction), 4)}
            if message:
                event["message"] = message
            event.update({k: _plain(v) for k, v in fields.items()})
            self._out().write(json.dumps(event) + "\n")
            self._out().flush()
            return
        now = time.monotonic()
        final = fraction is not None and fraction >= 1.0
        if not (force or final or self._last_text is None or now - self._last_text >= self.min_interval_s):
            return
        self._last_text = now
        percent = "" if fraction is None else f" {100 * fraction:5.1f}%"
        extras = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
        line = f"[{stage}]{percent} {message} {extras}".rstrip()
        self._out().write(line + "\n")
        self._out().flush()

    def done(self, message: str = "", **fields: Any) -> None:
        self.emit("done", 1.0, message, force=True, **fields)

    def error(self, message: str) -> None:
        self.emit("error", None, message, force=True)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _short(value: Any) -> str:
    value = _plain(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def parse_event(line: str) -> dict | None:
    """Parse one line of ``--progress json`` output; None for lines that are not progress events."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "stage" in event else None


QUIET = Progress("quiet")
