"""The candidate detector on the quality command's held-out sets, reported the way CAD-PE results are: FROC points
(sensitivity at 0.5-8 false findings per study), sensitivity per calibre class, false findings per PE-negative
study, seconds per study, and strict and paper matching at the reducer's shipped threshold.

Each study goes through the study step once, as ``detect --method candidates`` runs it, and is scored from that run:
every candidate with its score, as the detector found them on its way to the findings
(:class:`~IExplainLib.evaluation.froc.ScoredStudy`), so that any threshold's figures follow without running the
detector again. Calibre classes of the true emboli are
measured on the CT by the candidates' own rule (``proposals.embolus_calibres``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..findings import score_text
from .finding_metrics import STRICT_SHARE, truth_instances
from .froc import FROC_RATES, ScoredStudy, froc_curve, froc_points, pooled_counts, sensitivity_by_calibre
from .quality_sets import RealCT, quality_sets, set_studies

CURVE_POINTS = 40


def _thin_curve(curve: list[tuple[float, float, float]]) -> list[list[float | None]]:
    """The corners of a FROC curve (the last point before and the first after every rise in sensitivity, and its
    ends) plus at most ``CURVE_POINTS`` others, for the report and the plot."""
    keep = {0, len(curve) - 1} if curve else set()
    for i in range(1, len(curve)):
        if curve[i][2] != curve[i - 1][2]:
            keep.update((i - 1, i))
    keep.update(int(i) for i in np.linspace(0, len(curve) - 1, min(CURVE_POINTS, len(curve))))
    return [[round(t, 4) if np.isfinite(t) else None, round(fp, 3), round(sens, 3)]
            for t, fp, sens in (curve[i] for i in sorted(keep))]


def summarise_candidates(studies: list[ScoredStudy], rows: list[dict], threshold: float,
                         strict_share: float = STRICT_SHARE) -> dict:
    strict = pooled_counts(studies, threshold)
    paper = sum((s.counts(threshold, min_share=1e-9) for s in studies), type(strict)())
    negatives = [row for row in rows if row["true_pes"] == 0]
    return {"threshold": threshold, "studies": len(studies), "negative_studies": len(negatives),
            "true_pes": int(sum(row["true_pes"] for row in rows)),
            "strict": strict.as_dict(), "intersection": paper.as_dict(),
            "froc": froc_points(studies, FROC_RATES), "froc_curve": _thin_curve(froc_curve(studies)),
            "by_calibre": sensitivity_by_calibre(studies, threshold),
            "fp_per_negative_study": (round(float(np.mean([r["kept"] for r in negatives])), 3) if negatives
                                      else None),
            "candidates_per_study": round(float(np.mean([r["candidates"] for r in rows])), 1),
            "seconds_per_study": round(float(np.mean([r["seconds"] for r in rows])), 2),
            "per_study": rows}


def score_candidate_detector(detector, quick: bool = False, real_ct_root: str | Path | RealCT | None = None,
                             progress=None, deadline: float | None = None, only_sets=None) -> dict:
    """``{set name: figures or {"skipped": reason}}`` of a :class:`CandidateDetector` on the quality sets."""
    from ..candidates.proposals import embolus_calibres
    from ..study_step import StudyStep
    from .quality_run import observed

    watched, scored_candidates = observed(detector, "score")  # every candidate and its score, kept or not
    step = StudyStep(watched, detector.model_path)
    real_ct = real_ct_root if isinstance(real_ct_root, RealCT) else RealCT(real_ct_root)
    figures: dict = {}
    for item in quality_sets(quick):
        if only_sets is not None and item.name not in only_sets:
            figures[item.name] = {"skipped": "not among the sets asked for (--sets)"}
            continue
        if item.needs_real_ct and not real_ct.available:
            figures[item.name] = {"skipped": f"real CT not found at {real_ct.path}"}
            continue
        studies, rows = [], []
        for study in set_studies(item, real_ct):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if progress:
                progress("quality", None, f"candidates on {item.name}: {study.case_id}", case=study.case_id)
            started = time.monotonic()
            result = step(None, case=study.case_id, volume=study.volume)
            seconds = time.monotonic() - started
            candidates, scores = scored_candidates.value
            true_labels, true_count = truth_instances(study.truth)
            calibres = embolus_calibres(np.asarray(study.volume.array), true_labels, true_count, study.volume.spacing)
            scored = ScoredStudy.from_labels(candidates.labels, scores, true_labels, true_count, calibres)
            studies.append(scored)
            counts = scored.counts(detector.threshold)
            rows.append({"case": study.case_id, "true_pes": true_count, "candidates": len(candidates),
                         "kept": result.detection.summary["kept"], "strict": counts.as_dict(),
                         "calibres": calibres, "seconds": round(seconds, 2), "warnings": result.document["warnings"]})
        figures[item.name] = (summarise_candidates(studies, rows, detector.threshold) if studies
                              else {"skipped": "the time limit was reached before this set"})
    return figures


def candidates_markdown(section: dict) -> list[str]:
    """The candidate detector's table of the quality report."""
    model = section["model"]
    lines = ["## Candidates + false-positive reducer", "",
             f"Reducer `{model['path']}` (sha256 {str(model['sha256'])[:12]}), shipped score threshold "
             f"{score_text(model['threshold'])}. Strict matching at that threshold; sensitivity at 0.5 / 1 / 2 / 4 / 8 false "
             "findings per study from the scores.", "",
             "| set | studies (PE-negative) | true PEs | candidates per study | strict TP/FP/FN | strict F1 | paper F1 | "
             "FROC sens. @0.5/1/2/4/8 FP | FP per negative study | s per study | sensitivity by calibre |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, item in section["sets"].items():
        if "skipped" in item:
            lines.append(f"| {name} | skipped: {item['skipped']} |||||||||| ")
            continue
        froc = " / ".join("-" if v is None else f"{v:.2f}" for v in item["froc"].values())
        strict, paper = item["strict"], item["intersection"]
        calibres = ", ".join(f"{k} {v['found']}/{v['emboli']}" for k, v in item["by_calibre"].items()) or "-"
        f1 = "n/a" if strict["f1"] is None else f"{strict['f1']:.3f}"
        paper_f1 = "n/a" if paper["f1"] is None else f"{paper['f1']:.3f}"
        negative = "-" if item["fp_per_negative_study"] is None else f"{item['fp_per_negative_study']:.1f}"
        lines.append(f"| {name} | {item['studies']} ({item['negative_studies']}) | {item['true_pes']} | "
                     f"{item['candidates_per_study']:.0f} | {strict['tp']}/{strict['fp']}/{strict['fn']} | {f1} | "
                     f"{paper_f1} | {froc} | {negative} | {item['seconds_per_study']:.1f} | {calibres} |")
    return lines + [""]


def plot_froc(section: dict, path: str | Path, points: dict | None = None) -> Path:
    """FROC curves of the candidate detector, one per set, with the other methods' operating points (``points``:
    ``{label: (false findings per study, sensitivity)}``) as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for name, item in section["sets"].items():
        if "skipped" in item or not item["true_pes"]:
            continue
        curve = np.array([[fp, sens] for _, fp, sens in item["froc_curve"]], float)
        axis.plot(np.maximum(curve[:, 0], 0.05), curve[:, 1], label=f"candidates: {name}")
    for label, (fp, sens) in (points or {}).items():
        axis.scatter([max(fp, 0.05)], [sens], marker="x", label=label)
    axis.set_xscale("log")
    axis.set_xlim(0.05, 64)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("false findings per study")
    axis.set_ylabel("sensitivity (strict matching)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)
