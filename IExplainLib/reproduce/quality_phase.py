"""The quality phase's pieces: scoring set by set inside the phase's share, and the decision bundled vs new.

Each quality set is scored by its own call of the library's scorer (``run_quality``, ``score_candidate_detector``
with ``only_sets``) under :func:`~.budget.cut_at`, so that a study running past the share is given up at its next
network call; ``run_quality`` and ``score_segmenters`` take the cut per study (``guard``), so the set in flight
keeps the studies it finished (the candidate detector loses that set); a set is started only when the longest
study seen so far still fits.
The run's models are then compared with the bundled ones (``Resources/Models``) on the sets both were scored on:
:func:`decide` gives each model "ship" or "keep" and says why.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from ..evaluation.quality_run import CUT, TIME_SPENT
from .budget import PhaseTimeUp, cut_at

T = TypeVar("T")

__all__ = ["CUT", "TIME_SPENT", "StudyTimes", "per_set", "merge_quality_reports", "figure_of", "decide",
           "decision_markdown"]
MODELS = ("classifier", "wsl-segmenter", "reducer")
BUNDLED = {"classifier": "demo-classifier", "wsl-segmenter": "demo-segmenter", "reducer": "demo-reducer"}
METHOD = {"classifier": "iExplain", "wsl-segmenter": "segmenter", "reducer": "candidates"}


class StudyTimes:
    """A progress callable that passes every call on and times the studies (a call with ``case=`` starts one;
    the next such call, ``done`` or :meth:`close` ends it)."""

    def __init__(self, progress=None, clock: Callable[[], float] = time.monotonic):
        self.progress = progress
        self.clock = clock
        self.open: float | None = None
        self.seconds: list[float] = []

    def __call__(self, stage: str, fraction: float | None = None, message: str = "", **fields) -> None:
        if "case" in fields:
            self.close()
            self.open = self.clock()
        if self.progress is not None:
            self.progress(stage, fraction, message, **fields)

    def done(self, message: str = "", **fields) -> None:
        self.close()
        if self.progress is not None and hasattr(self.progress, "done"):
            self.progress.done(message, **fields)

    def close(self) -> None:
        if self.open is not None:
            self.seconds.append(self.clock() - self.open)
            self.open = None

    def longest(self) -> float:
        """The longest study so far (0 before any): a set starts no study that would not fit."""
        return max(self.seconds, default=0.0)


def per_set(score: Callable[[str, float], T], names, deadline: float, times: StudyTimes,
            clock: Callable[[], float] = time.monotonic) -> tuple[dict[str, T], dict[str, str]]:
    """``score(set name, study deadline)`` for each set in turn, each under :func:`cut_at` ``deadline``; the study
    deadline handed on is ``deadline`` less the longest study seen. Returns (results by set, why the others have
    none)."""
    results: dict[str, T] = {}
    missing: dict[str, str] = {}
    for name in names:
        if clock() >= deadline:
            missing[name] = TIME_SPENT
            continue
        try:
            with cut_at(deadline, clock):
                results[name] = score(name, deadline - times.longest())
        except PhaseTimeUp:
            missing[name] = CUT
        finally:
            times.close()
    return results, missing


def merge_quality_reports(reports: dict[str, dict], missing: dict[str, str]) -> dict | None:
    """One ``iexplain quality`` report from reports of one set each (``run_quality(only_sets=[name])``): each set's
    summary from the report that scored it, the sets without one skipped with their reason; None when no set was
    scored."""
    if not reports:
        return None
    names = list(reports)
    merged = dict(reports[names[0]])
    merged["sets"] = []
    for item in reports[names[0]]["sets"]:
        name = item["name"]
        if name in reports:
            merged["sets"].append(next(s for s in reports[name]["sets"] if s["name"] == name))
        else:
            merged["sets"].append({**item, "skipped": missing.get(name, item["skipped"]), "studies": 0})
    merged["negative_studies"] = [row for name in names for row in reports[name]["negative_studies"]]
    merged["no_contrast"] = next((reports[name]["no_contrast"] for name in names if reports[name]["no_contrast"]),
                                 None)
    merged["runtime_s"] = round(sum(reports[name]["runtime_s"] for name in names), 1)
    return merged


def figure_of(model: str, block: dict | None) -> dict | None:
    """The figure one model is judged by on one set (a set's pooled block of its method): strict F1 where the set
    has true PEs (higher is better), else false findings per PE-negative study (lower is better). None when the
    block holds no figure."""
    if not block or block.get("skipped"):  # run_quality's summaries say "skipped": None when scored
        return None
    studies = block.get("studies")
    if model == "classifier":
        method = block.get("iexplain") or {}
        shipped = method.get("shipped") or {}
        true_pes, strict, fp_neg = block.get("true_pes"), shipped.get("strict"), method.get("fp_per_negative_study")
    else:
        method = block.get("segmenter") if model == "wsl-segmenter" else block
        method = method or {}
        true_pes = block.get("true_pes")
        strict, fp_neg = method.get("strict"), method.get("fp_per_negative_study")
    if true_pes:
        value = (strict or {}).get("f1")
        return None if value is None else {"metric": "strict F1", "value": float(value), "higher_is_better": True,
                                           "studies": studies}
    if fp_neg is None:
        return None
    return {"metric": "false findings per PE-negative study", "value": float(fp_neg), "higher_is_better": False,
            "studies": studies}


def decide(new: dict[str, dict[str, dict | None]], bundled: dict[str, dict[str, dict | None]],
           bundled_reasons: dict[str, str] | None = None) -> dict:
    """``{model: {"sets": {set: {"bundled", "new", "metric", "winner"}}, "decision": "ship"|"keep", "why"}}``
    from each model's per-set figures (:func:`figure_of`). A model ships when it was compared on at least one set
    with true PEs, is better there on at least one, and is worse on none of the sets compared (the same studies:
    equal counts); otherwise the bundled one is kept."""
    decisions: dict = {}
    for model in MODELS:
        rows: dict = {}
        better = worse = compared_positive = 0
        ours_by_set, theirs_by_set = new.get(model, {}), bundled.get(model, {})
        for name in [*ours_by_set, *(n for n in theirs_by_set if n not in ours_by_set)]:
            ours, theirs = ours_by_set.get(name), theirs_by_set.get(name)
            row: dict = {"new": ours and ours["value"], "bundled": theirs and theirs["value"],
                         "metric": (ours or theirs or {}).get("metric"), "winner": None}
            if ours is None or theirs is None:
                row["winner"] = "not compared: " + ("the new model was not scored" if ours is None else
                                                    (bundled_reasons or {}).get(model, "the bundled model was not "
                                                                                       "scored"))
            elif ours["studies"] != theirs["studies"]:
                row["winner"] = f"not compared: {ours['studies']} vs {theirs['studies']} studies"
            else:
                sign = 1 if ours["higher_is_better"] else -1
                gap = sign * (ours["value"] - theirs["value"])
                row["winner"] = "new" if gap > 1e-9 else "bundled" if gap < -1e-9 else "tie"
                better += row["winner"] == "new" and ours["higher_is_better"]
                worse += row["winner"] == "bundled"
                compared_positive += ours["higher_is_better"]
            rows[name] = row
        if not compared_positive:
            decision, why = "keep", "not compared on any set with true PEs"
        elif worse:
            decision, why = "keep", f"worse than the bundled model on {worse} set(s)"
        elif not better:
            decision, why = "keep", "no better than the bundled model"
        else:
            decision, why = "ship", f"better on {better} set(s) with true PEs, worse on none"
        decisions[model] = {"method": METHOD[model], "bundled_model": BUNDLED[model], "sets": rows,
                            "decision": decision, "why": why}
    return decisions


def decision_markdown(decisions: dict) -> list[str]:
    """The report's closing table: bundled vs new per model and quality set, then one ship/keep line per model."""
    lines = ["## Decision: bundled vs new", "",
             "| model | set | figure | bundled | new | better |", "|---|---|---|---|---|---|"]

    def shown(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    for model, entry in decisions.items():
        if not entry["sets"]:
            lines.append(f"| {model} ({entry['method']}) | - | - | - | - | not scored |")
        for name, row in entry["sets"].items():
            lines.append(f"| {model} ({entry['method']}) | {name} | {row['metric'] or '-'} | {shown(row['bundled'])} "
                         f"| {shown(row['new'])} | {row['winner']} |")
    lines.append("")
    lines += [f"- {model}: **{entry['decision']}** ({entry['why']}; bundled: {entry['bundled_model']})"
              for model, entry in decisions.items()]
    return lines
