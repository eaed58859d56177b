"""``iexplain tune-threshold``: explain each evaluation study once, sweep h, record the choice in the model card."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..finding_filters import keep_findings
from .explainer_runs import first_iteration_cache, segment_at
from .model_card import record_high_threshold
from .study_sets import (TUNING_SEEDS, PhantomSetSpec, StudyCut, StudyGuard, check_seed_range, count_studies,
                         evaluation_studies, guarded)
from .threshold_tuning import CachedStudy, choose_threshold, default_grid, parse_grid, sweep_thresholds


def tune_threshold(dataset: str | Path | None, phantoms: PhantomSetSpec | None, classifier: str | Path,
                   params_file: str | None = None, overrides: dict | None = None, target_sensitivity: float = 0.9,
                   grid_text: str | None = None, device: str = "auto", write_card: bool = True,
                   progress=None, deadline: float | None = None, given_studies: list | None = None,
                   guard: StudyGuard | None = None, min_studies: int = 1) -> dict:
    """Explain each evaluation study once (first iteration), sweep h, choose it, record it in the card.
    ``deadline`` (a ``time.monotonic()`` value): no study is started after it (one at least is explained); the
    result's ``studies`` says how many were. ``given_studies``: EvaluationStudy objects made by the caller (e.g. in
    parallel) instead of ``dataset`` / ``phantoms``.
    ``guard``: every study is explained inside ``guard()`` (e.g. ``reproduce.budget.cut_at``); a :class:`StudyCut`
    raised there gives up that study (``cut_inside_study`` names it) and h is chosen from the studies measured
    before it when they are at least ``min_studies`` and hold a true PE; otherwise nothing is chosen
    (``chosen`` None, the card's h is kept) and ``not_tuned`` says why."""
    import time

    if not 0.0 < target_sensitivity <= 1.0:
        raise InputError(f"--target-sensitivity must lie in (0, 1], got {target_sensitivity}")
    if phantoms is not None:
        check_seed_range(phantoms, TUNING_SEEDS, "threshold tuning")
    from ..explain.explainer import IExplainer

    explainer = IExplainer(classifier, device=device, params_file=params_file, overrides=overrides)
    params = explainer.params
    grid = parse_grid(grid_text) if grid_text else default_grid(params.high_threshold)
    total = len(given_studies) if given_studies is not None else count_studies(dataset, phantoms)
    source = given_studies if given_studies is not None else evaluation_studies(dataset, phantoms)
    studies: list[CachedStudy] = []
    cut = None
    for index, study in enumerate(source):
        if deadline is not None and studies and time.monotonic() >= deadline:
            break
        if progress:
            progress("tune", index / total, f"explaining {study.case_id}", case=study.case_id)
        try:
            with guarded(guard):
                cache = first_iteration_cache(explainer, study.volume)
        except StudyCut:
            cut = study.case_id
            break
        studies.append(CachedStudy.from_truth(study.case_id, cache, study.truth, volume=study.volume))
    if cut is not None and (len(studies) < min_studies or not any(s.true_count for s in studies)):
        return {"format": "iexplain-threshold-tuning", "version": 1, "classifier": str(classifier),
                "previous_high_threshold": params.high_threshold, "chosen": None, "studies": len(studies),
                "true_pes": sum(s.true_count for s in studies), "cut_inside_study": cut, "card_updated": False,
                "not_tuned": f"the time limit was reached inside study {cut} after {len(studies)} studies measured "
                             f"({max(1, min_studies)} holding a true PE needed): the card's h is kept"}

    def cluster(cache, high_threshold):
        return segment_at(cache, high_threshold, params)

    def keep(mask, volume):
        return keep_findings(mask, params, volume)

    rows = sweep_thresholds(studies, grid, cluster, keep)
    chosen = choose_threshold(rows, target_sensitivity)
    evaluation_set = (phantoms.to_dict() if phantoms is not None else {"dataset": str(dataset)}
                      if given_studies is None else {"studies": [s.case_id for s in studies]})
    tuning = {"target_sensitivity": target_sensitivity, "target_met": chosen["target_met"],
              "sensitivity_unfiltered": chosen["unfiltered"]["sensitivity"],
              "f1_filtered": chosen["filtered"]["f1"], "evaluation_set": evaluation_set,
              "measured_on": "first iExplain iteration, pooled over studies", "grid": grid}
    result = {"format": "iexplain-threshold-tuning", "version": 1, "classifier": str(classifier),
              "previous_high_threshold": explainer.params.high_threshold, "chosen": chosen, "tuning": tuning,
              "studies": len(studies), "true_pes": sum(s.true_count for s in studies), "sweep": rows,
              "card_updated": False, **({"cut_inside_study": cut} if cut is not None else {})}
    if write_card:
        card_path, backup = record_high_threshold(classifier, chosen["high_threshold"], tuning)
        result.update(card_updated=True, card=str(card_path), card_backup=str(backup))
    if progress:
        progress.done(f"h = {chosen['high_threshold']:g}")
    return result


def _pct(value) -> str:
    return "  n/a" if value is None else f"{100 * value:5.1f}"


def format_sweep(result: dict) -> str:
    lines = [f"{'h':>8}  {'sens%':>5} {'PPV%':>5} {'F1%':>5}  | filtered {'sens%':>5} {'PPV%':>5} {'F1%':>5}"]
    chosen = result["chosen"]["high_threshold"]
    for row in result["sweep"]:
        u, f = row["unfiltered"], row["filtered"]
        mark = " <- chosen" if row["high_threshold"] == chosen else ""
        lines.append(f"{row['high_threshold']:>8g}  {_pct(u['sensitivity'])} {_pct(u['ppv'])} {_pct(u['f1'])}  |"
                     f"          {_pct(f['sensitivity'])} {_pct(f['ppv'])} {_pct(f['f1'])}{mark}")
    met = "met" if result["chosen"]["target_met"] else "NOT met (most sensitive h chosen)"
    lines.append(f"target sensitivity {result['tuning']['target_sensitivity']:g} before filtering: {met}; "
                 f"{result['studies']} studies, {result['true_pes']} true PEs")
    if result["card_updated"]:
        lines.append(f"explain.high_threshold = {chosen:g} written to {result['card']} "
                     f"(previous card: {result['card_backup']})")
    else:
        lines.append("model card unchanged (--dry-run)")
    return "\n".join(lines)
