"""What the panel shows and enables, decided without Qt: labels of the choices, button states, model selection.

The widget copies these values onto its Qt widgets; tests check the rules here. Choices have a value (what the
parameter node and the worker get: ``iexplain``, ``cuda``) and a label for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .run_controller import RunKind, RunState

METHOD_CHOICES = (
    ("iexplain", "iExplain: classifier + explanations (a segment per iteration)"),
    ("segmenter", "3D segmenter (one pass, faster)"),
    ("candidates", "Candidates: filling defects from the CT, scored by a false-positive reducer"),
)
DEVICE_CHOICES = (
    ("auto", "Automatic (GPU if available)"),
    ("cpu", "CPU only"),
    ("cuda", "GPU (CUDA)"),
)
SCORE_HEADERS = {"iexplain": "Peak attribution", "segmenter": "Peak probability", "candidates": "Score"}


def indexOfValue(choices: Sequence[tuple[str, str]], value: str) -> int:
    """The combo-box row of ``value`` (0 when unknown, so a stale value falls back to the first choice)."""
    return next((row for row, (choice, _label) in enumerate(choices) if choice == value), 0)


def modelIndex(weightPaths: Sequence[str], remembered: str) -> int:
    """The model-list row to select: the model the parameter node remembers, else the first one (-1: empty)."""
    if not weightPaths:
        return -1
    if remembered:
        target = str(Path(remembered).resolve())
        for row, path in enumerate(weightPaths):
            if str(Path(path).resolve()) == target:
                return row
    return 0


@dataclass(frozen=True)
class ButtonState:
    enabled: bool
    toolTip: str
    text: str = ""


def applyButton(state: RunState, kind: RunKind | None, hasCt: bool, hasModel: bool) -> ButtonState:
    """Apply starts detection; while a run is going it is that run's Cancel (one run at a time)."""
    if state is RunState.RUNNING:
        what = "detection" if kind is RunKind.DETECTION else "finetuning"
        return ButtonState(True, f"Stop the running {what} (the worker and everything it started)", "Cancel")
    if state is RunState.CANCELLING:
        return ButtonState(False, "Waiting for the worker to stop", "Cancelling...")
    if not hasCt:
        return ButtonState(False, "Choose the CT volume first", "Apply")
    if not hasModel:
        return ButtonState(False, "No model for this method: import one", "Apply")
    return ButtonState(True, "Run detection in the background", "Apply")


def exportButton(busy: bool, hasCt: bool, hasSegmentation: bool) -> ButtonState:
    if busy:
        return ButtonState(False, "Wait for the running job to end")
    if not (hasCt and hasSegmentation):
        return ButtonState(False, "Run detection (or choose a segmentation and its CT) first")
    return ButtonState(True, "Write the CT, the corrected label (CT geometry) and a sidecar; a second export adds "
                             "a version")


def finetuneButton(busy: bool, datasetFolder: str, hasSegmenter: bool) -> ButtonState:
    if busy:
        return ButtonState(False, "Wait for the running job to end")
    if not hasSegmenter:
        return ButtonState(False, "No segmenter model to finetune: import one")
    if not datasetFolder or not (Path(datasetFolder) / "dataset.json").is_file():
        return ButtonState(False, "Export at least one corrected case into the dataset folder first")
    return ButtonState(True, "Run iexplain finetune in the background; the new model joins the model list")


def statusText(outcome) -> str:
    """The status line after a run (``outcome``: a RunOutcome)."""
    if outcome.state is RunState.CANCELLED:
        return outcome.message or "Cancelled."
    if outcome.state is RunState.FAILED:
        return f"Failed: {outcome.message}"
    if outcome.kind is RunKind.DETECTION:
        findings = getattr(outcome.value, "findings", [])
        return f"Done: {len(findings)} segment(s)."
    return f"Finetuned model {getattr(outcome.value, 'name', '')} added to the model list."
