"""The one resume rule of every trainer (classifier, segmenter, finetuning).

A run started again beside its checkpoint continues from it when it asks for the settings the checkpoint was made
with, so a killed job restarts with the same command and carries on. A checkpoint of other settings is never mixed
in: the run is refused, saying which settings differ, unless ``restart`` discards the checkpoint. Starting a new
phase from a finished model is a different thing, done with ``--init`` (a new schedule), not by resuming.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OutputExistsError
from .checkpoint import load_checkpoint

SETTINGS_KEY = "settings"   # where a checkpoint keeps the settings it must be resumed with


def changed_settings(recorded: dict, wanted: dict, prefix: str = "") -> list[str]:
    """Names (dotted through nested dicts) of the settings whose values differ between two records."""
    changed = []
    for key in sorted(set(recorded) | set(wanted), key=str):
        old, new = recorded.get(key), wanted.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += changed_settings(old, new, f"{prefix}{key}.")
        elif old != new:
            changed.append(f"{prefix}{key}")
    return changed


def checkpoint_to_resume(path: str | Path, settings: dict, restart: bool = False,
                         restore_rng: bool = True) -> dict | None:
    """The checkpoint at ``path`` to continue, or None to start afresh (none there, or ``restart``). Raises
    :class:`OutputExistsError` when the checkpoint was made with other ``settings`` than these."""
    path = Path(path)
    if restart or not path.exists():
        return None
    state = load_checkpoint(path, restore_rng=restore_rng)
    # checkpoints of earlier versions kept the segmenter's settings at the top level, under the same names
    recorded = state.get(SETTINGS_KEY) or {key: state[key] for key in settings if key in state}
    changed = changed_settings(recorded, settings) if isinstance(recorded, dict) else ["(none recorded)"]
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise OutputExistsError(f"checkpoint {path} belongs to a run with other settings ({shown}): give the same "
                                "options to resume it, or --restart to start over")
    return state
