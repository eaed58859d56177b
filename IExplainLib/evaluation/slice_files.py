"""Per-slice scores and labels from CSV files (``iexplain evaluate --slice-scores/--slice-labels``), paired slice by
slice for :func:`IExplainLib.slice_metrics.slice_metrics`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InputError

SCORE_COLUMNS = ("probability", "pe_probability", "score", "prediction")
LABEL_COLUMNS = ("pe_present", "pe_present_on_image", "label")


def read_slice_column(path: str | Path, candidates: tuple[str, ...], what: str) -> dict[int, float]:
    """``{slice_index: value}`` from a CSV with a ``slice_index`` column and one of ``candidates``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file {path} not found")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        column = next((name for name in candidates if name in fields), None)
        if "slice_index" not in fields or column is None:
            raise InputError(f"{path} needs columns slice_index and one of {', '.join(candidates)} "
                             f"(found {', '.join(fields) or 'none'})")
        values: dict[int, float] = {}
        for line, row in enumerate(reader, start=2):
            try:
                index = int(row["slice_index"])
                value = _parse_value(row[column])
            except (TypeError, ValueError):
                raise InputError(f"{path} line {line}: slice_index must be an integer and {column} a number "
                                 f"(got {row['slice_index']!r}, {row[column]!r})") from None
            if index in values:
                raise InputError(f"{path} line {line}: slice {index} listed twice")
            values[index] = value
    return values


def _parse_value(text: str) -> float:
    text = (text or "").strip().lower()
    if text in ("true", "yes"):
        return 1.0
    if text in ("false", "no"):
        return 0.0
    return float(text)


def read_slice_scores(path: str | Path) -> dict[int, float]:
    return read_slice_column(path, SCORE_COLUMNS, "slice scores")


def read_slice_labels(path: str | Path) -> dict[int, float]:
    return read_slice_column(path, LABEL_COLUMNS, "slice labels")


def paired_slices(scores: dict[int, float], labels: dict[int, float], where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of the slices both files list; refuses files that cover different slices."""
    if set(scores) != set(labels):
        only_scores = sorted(set(scores) - set(labels))[:5]
        only_labels = sorted(set(labels) - set(scores))[:5]
        raise InputError(f"slice scores and labels{where} cover different slices "
                         f"(only scored: {only_scores}, only labelled: {only_labels})")
    order = sorted(scores)
    return np.array([scores[i] for i in order]), np.array([labels[i] > 0.5 for i in order])
