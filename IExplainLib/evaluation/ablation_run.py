"""``iexplain ablation``: iExplain on every evaluation study, then Table 2, Table 3 and Fig. 4 as JSON, PNG, MD."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from ..finding_filters import keep_findings
from ..outputs import check_can_write, write_text_atomic
from .ablation import IterationStudy, summarise
from .ablation_plot import plot_ablation
from .explainer_runs import explain_for_ablation
from .study_sets import HELD_OUT_FIRST_SEED, PhantomSetSpec, count_studies, evaluation_studies

REPORT_FILES = ("ablation.json", "ablation.png", "ablation.md")


def run_ablation_report(dataset: str | Path | None, phantoms: PhantomSetSpec | None, classifier: str | Path,
                        out_dir: Path, params_file: str | None = None, overrides: dict | None = None,
                        device: str = "auto", overwrite: bool = False, progress=None) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in REPORT_FILES]
    for path in paths:  # refuse before hours of explaining, not after
        check_can_write(path, overwrite)
    from ..explain.explainer import IExplainer

    explainer = IExplainer(classifier, device=device, params_file=params_file, overrides=overrides)
    params = explainer.params
    total = count_studies(dataset, phantoms)
    started = time.monotonic()
    studies = []
    for index, study in enumerate(evaluation_studies(dataset, phantoms)):
        if progress:
            progress("ablation", index / total, f"explaining {study.case_id}", case=study.case_id)
        result = explain_for_ablation(explainer, study.volume)
        studies.append(IterationStudy.from_truth(study.case_id, result.unfiltered, result.iterations, study.truth,
                                                 study.source, volume=study.volume))

    def keep(mask, volume):
        return keep_findings(mask, params, volume)

    summary = summarise(studies, params.max_iterations, keep)
    held_out = phantoms is None or phantoms.seed >= HELD_OUT_FIRST_SEED
    report = {"format": "iexplain-ablation", "version": 1,
              "evaluation_set": phantoms.to_dict() if phantoms is not None else {"dataset": str(dataset)},
              "held_out": held_out,
              "classifier": {"path": str(classifier), "sha256": explainer.card.get("sha256"),
                             "architecture": explainer.card.get("architecture")},
              "explain_params": params.to_dict(), "classifier_threshold": explainer.threshold,
              "high_threshold_tuning": explainer.card.get("explain_tuning"),
              "runtime_s": round(time.monotonic() - started, 1), "device": str(explainer.device),
              "host": platform.machine(), **summary}
    write_text_atomic(paths[0], json.dumps(report, indent=2) + "\n", overwrite)
    plot_ablation(summary, paths[1], overwrite, title=_title(report))
    write_text_atomic(paths[2], format_tables(report), overwrite)
    if progress:
        progress.done(f"best iteration {summary['best_iteration']}", studies=len(studies))
    return paths


def _title(report: dict) -> str:
    evaluation_set = report["evaluation_set"]
    if "dataset" in evaluation_set:
        return f"iExplain ablation, {report['studies']} studies of {evaluation_set['dataset']}"
    return (f"iExplain ablation, {evaluation_set['count']} phantoms + {evaluation_set['real_anatomy_count']} "
            f"real-anatomy studies, seeds {evaluation_set['seeds'][0]}-{evaluation_set['seeds'][1]}")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def format_tables(report: dict) -> str:
    """Tables 2 and 3 of the paper, in markdown, from an ablation report."""
    h = report["explain_params"]["high_threshold"]
    lines = [f"# iExplain ablation ({report['studies']} studies, {report['true_pes']} true PEs, h = {h:g})", "",
             "Table 2 analogue: iterative refinement (filtered clusters)", "",
             "| Iteration | Sensitivity | PPV | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
    for index, row in enumerate(report["table2_iterations"]):
        label = f"{row['iteration']}, best" if index == 1 else str(row["iteration"])
        lines.append(f"| {label} | {_pct(row['sensitivity'])} | {_pct(row['ppv'])} | {_pct(row['f1'])} | "
                     f"{row['tp']} | {row['fp']} | {row['fn']} |")
    lines += ["", "Table 3 analogue: cluster filtering", "",
              "| Iteration | Filtered | Sensitivity | PPV | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|---|"]
    for row in report["table3_filtering"]:
        lines.append(f"| {row['iteration']} | {'yes' if row['filtered'] else 'no'} | {_pct(row['sensitivity'])} | "
                     f"{_pct(row['ppv'])} | {_pct(row['f1'])} | {row['tp']} | {row['fp']} | {row['fn']} |")
    histogram = report["fig4"]["histogram"]
    lines += ["", "Iterations needed per study: " + ", ".join(
        f"{k}: {n}" for k, n in zip(histogram["iterations"], histogram["studies"]) if n), ""]
    return "\n".join(lines)
