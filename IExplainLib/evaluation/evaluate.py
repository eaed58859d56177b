"""``iexplain evaluate``: finding-level metrics per case and pooled, plus slice-level metrics where given.

Pooling follows the paper: TP / FP / FN are summed over all studies and the ratios are taken once, so a study with
many emboli weighs more than one with a single embolus (the per-case rows are there for the rest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..slice_metrics import slice_metrics
from .cases import CasePair, collect_cases, pair_cases
from .finding_metrics import match_findings, pooled, FindingCounts
from .masks import read_mask, require_same_grid
from .slice_files import paired_slices, read_slice_labels, read_slice_scores


def evaluate_case(pair: CasePair, truth_as_instances: bool | None = None) -> dict:
    prediction = read_mask(pair.prediction)
    truth = read_mask(pair.truth)
    require_same_grid(prediction, truth, pair.prediction, pair.truth)
    counts = match_findings(prediction.array, truth.array, truth_as_instances)
    return {"case": pair.case_id, "prediction": str(pair.prediction), "truth": str(pair.truth),
            **counts.as_dict()}


def _slice_files(path: Path | None, pairs: list[CasePair], role: str) -> dict[str, Path]:
    """Per-case CSV: one file for a single case, or a folder of ``<case>.csv`` (``<case>-slices.csv`` too)."""
    if path is None:
        return {}
    path = Path(path)
    if path.is_file():
        if len(pairs) != 1:
            raise InputError(f"--{role} {path} is one file but {len(pairs)} cases are evaluated: give a folder "
                             "of <case>.csv files")
        return {pairs[0].case_id: path}
    if not path.is_dir():
        raise InputError(f"--{role} {path} not found")
    found = {}
    for pair in pairs:
        candidates = [path / f"{pair.case_id}{ending}" for ending in (".csv", "-slices.csv", "_slices.csv")]
        match = next((c for c in candidates if c.is_file()), None)
        if match is None:
            raise InputError(f"--{role} {path} has no {pair.case_id}.csv")
        found[pair.case_id] = match
    return found


def evaluate_slices(pairs: list[CasePair], scores_path: Path | None, labels_path: Path | None,
                    threshold: float = 0.5) -> dict | None:
    """Slice AUROC / F1 pooled over all slices of all cases; labels default to the truth dataset's."""
    if scores_path is None:
        if labels_path is not None:
            raise InputError("--slice-labels needs --slice-scores")
        return None
    scores_files = _slice_files(scores_path, pairs, "slice-scores")
    labels_files = _slice_files(labels_path, pairs, "slice-labels") if labels_path else {
        pair.case_id: pair.slice_labels for pair in pairs if pair.slice_labels}
    missing = [pair.case_id for pair in pairs if pair.case_id not in labels_files]
    if missing:
        raise InputError(f"no slice labels for case(s) {', '.join(missing[:5])}: give --slice-labels")
    all_scores, all_labels = [], []
    for pair in pairs:
        scores, labels = paired_slices(read_slice_scores(scores_files[pair.case_id]),
                                       read_slice_labels(labels_files[pair.case_id]), f" of {pair.case_id}")
        all_scores.append(scores)
        all_labels.append(labels)
    return slice_metrics(np.concatenate(all_scores), np.concatenate(all_labels), threshold)


def evaluate(prediction: str | Path, truth: str | Path, slice_scores: str | Path | None = None,
             slice_labels: str | Path | None = None, truth_as_instances: bool | None = None,
             slice_threshold: float = 0.5, progress=None) -> dict:
    """The full report: ``{"cases": [...], "pooled": {...}, "slices": {...} | None}``."""
    pairs = pair_cases(Path(prediction), Path(truth))
    rows = []
    for index, pair in enumerate(pairs):
        if progress and len(pairs) > 1:
            progress("evaluate", index / len(pairs), f"case {pair.case_id}", case=pair.case_id)
        rows.append(evaluate_case(pair, truth_as_instances))
    total = pooled(FindingCounts(row["tp"], row["fp"], row["fn"]) for row in rows)
    extra = sorted(set(collect_cases(Path(prediction), "prediction")) - {p.case_id for p in pairs}) \
        if len(pairs) > 1 or Path(prediction).is_dir() else []
    return {"format": "iexplain-evaluation", "version": 1,
            "matching": "a predicted cluster (26-connected) and a true PE match when they share a voxel",
            "cases": rows, "pooled": {"cases": len(rows), **total.as_dict()},
            "unpaired_predictions": extra,
            "slices": evaluate_slices(pairs, Path(slice_scores) if slice_scores else None,
                                      Path(slice_labels) if slice_labels else None, slice_threshold)}


def _fmt(value) -> str:
    return "   n/a" if value is None else f"{100 * value:6.1f}"


def format_report(report: dict) -> str:
    """A fixed-width text table: one row per case, then the pooled row (percentages)."""
    width = max([len("pooled")] + [len(row["case"]) for row in report["cases"]])
    header = f"{'case':<{width}}  {'TP':>4} {'FP':>4} {'FN':>4}  {'sens%':>6} {'PPV%':>6} {'F1%':>6}"
    lines = [header, "-" * len(header)]
    def row_line(row: dict) -> str:
        return (f"{row['case']:<{width}}  {row['tp']:>4} {row['fp']:>4} {row['fn']:>4}  "
                f"{_fmt(row['sensitivity'])} {_fmt(row['ppv'])} {_fmt(row['f1'])}")

    lines += [row_line(row) for row in report["cases"]]
    if len(report["cases"]) > 1:
        lines += ["-" * len(header), row_line({"case": "pooled", **report["pooled"]})]
    if report.get("unpaired_predictions"):
        lines.append(f"({len(report['unpaired_predictions'])} prediction(s) without truth ignored)")
    slices = report.get("slices")
    if slices:
        lines.append(f"slices: {slices['slices']} ({slices['positives']} positive)  AUROC {_fmt(slices['auroc'])}  "
                     f"F1 {_fmt(slices['f1'])} at threshold {slices['threshold']:g}")
    return "\n".join(lines)
