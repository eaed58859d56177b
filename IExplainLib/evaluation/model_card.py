"""Recording the tuned high threshold in a classifier's model card.

Only ``card["explain"]["high_threshold"]`` and its provenance ``card["explain_tuning"]`` change (the provenance sits
outside ``explain`` so that the ``explain`` section stays a set of ExplainParams fields): the weights, their
checksum and every other field stay as they were. The previous card is kept beside it as
``<name>.json.bak`` and the new card replaces the old one in one atomic rename, so a crash leaves a valid card.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..modelfile import model_paths, read_card
from ..outputs import write_text_atomic
from ..errors import ModelFileError


def record_high_threshold(model: str | Path, high_threshold: float, tuning: dict | None = None) -> tuple[Path, Path]:
    """Write ``explain.high_threshold`` into the card of ``model``; returns ``(card path, backup path)``."""
    read_card(model)  # refuses a missing or foreign card before anything is written
    _, card_path = model_paths(model)
    previous = card_path.read_text(encoding="utf-8")
    card = json.loads(previous)
    if card.get("kind") != "classifier":
        raise ModelFileError(f"{card_path} is a {card.get('kind')} card; the high threshold belongs to a classifier")
    explain = card.get("explain")
    if explain is None:
        explain = card["explain"] = {}
    if not isinstance(explain, dict):
        raise ModelFileError(f"{card_path}: 'explain' must be a JSON object, found {type(explain).__name__}")
    explain["high_threshold"] = float(high_threshold)
    if tuning is not None:
        card["explain_tuning"] = tuning
    backup_path = card_path.with_name(card_path.name + ".bak")
    write_text_atomic(backup_path, previous, overwrite=True)
    write_text_atomic(card_path, json.dumps(card, indent=2) + "\n", overwrite=True)
    return card_path, backup_path
