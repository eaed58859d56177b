"""Slice-level metrics of the classifier (paper section 3.4 / Table 1): AUROC and F1.

AUROC is computed exactly as the Mann-Whitney statistic (probability that a random positive slice scores above a
random negative one, ties counting one half) from SciPy's tie-averaged ranks: no scikit-learn needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..slice_metrics import auroc  # the one AUROC, shared with the classifier's training logs
from .finding_metrics import FindingCounts

SCORE_COLUMNS = ("probability", "pe_probability", "score", "prediction")
LABEL_COLUMNS = ("pe_present", "pe_present_on_image", "label")


def slice_counts(scores, labels, threshold: float = 0.5) -> FindingCounts:
    """TP / FP / FN of slices called positive when ``score >= threshold``."""
    called = np.asarray(scores, dtype=float).ravel() >= threshold
    truth = np.asarray(labels).ravel().astype(bool)
    return FindingCounts(tp=int((called & truth).sum()), fp=int((called & ~truth).sum()),
                         fn=int((~called & truth).sum()))


def slice_metrics(scores, labels, threshold: float = 0.5) -> dict:
    """``{"slices", "positives", "auroc", "threshold", "f1", "sensitivity", "ppv", ...}``."""
    counts = slice_counts(scores, labels, threshold)
    labels = np.asarray(labels).ravel().astype(bool)
    return {"slices": int(labels.size), "positives": int(labels.sum()), "auroc": auroc(scores, labels),
            "threshold": threshold, **counts.as_dict()}


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
