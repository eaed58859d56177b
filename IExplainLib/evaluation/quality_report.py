"""The quality report as markdown (tables for the README and the issue log) and writing it with its JSON."""

from __future__ import annotations

import json
from pathlib import Path


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _counts(block: dict) -> str:
    return f"{block['tp']}/{block['fp']}/{block['fn']}"


def _pair(score: dict, key: str = "f1") -> str:
    """``paper / strict`` of one figure of a scored block."""
    return f"{_num(score['intersection'][key])} / {_num(score['strict'][key])}"


def _per_study(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _header(report: dict) -> list[str]:
    models = report["models"]
    params = report["explain_params"]
    lines = ["# IExplain quality report (held-out sets, seeds >= 9000)", ""]
    if report["quick"]:
        lines += ["**Quick run** (tiny sets for the test-suite): the figures say nothing about the models.", ""]
    for role in ("classifier", "segmenter"):
        model = models[role]
        lines.append(f"- {role}: `{model['path']}` (sha256 {str(model['sha256'])[:12]}, threshold "
                     f"{model['threshold']:.3g})")
    environment = report["environment"]
    load = environment.get("load_average_at_start")
    preset = report.get("preset") or {}
    chosen = f" ({preset['name']} chosen by {preset['chosen_by']})" if preset else ""
    lines += [f"- iExplain: IG preset {report['ig_preset']}{chosen}: {params['n_steps']} IG steps, references "
              f"{', '.join(params['references'])}, {params['smoothgrad_samples']} SmoothGrad sample(s); "
              f"h = {params['high_threshold']:g}, at most {params['max_iterations']} iterations",
              f"- matching: *paper* = {report['matching']['intersection']}; *strict* = "
              f"{report['matching']['strict']}; Dice = {report['matching']['dice']}",
              f"- run: {report['runtime_s']:.0f} s on {environment['device']}, {environment['cpus']} CPUs, "
              f"{environment['torch_threads']} torch threads"
              + ("" if load is None else f", load average {load:.1f} at start"), ""]
    return lines


def _summary(report: dict) -> list[str]:
    lines = ["## Summary", "",
             f"F1 as *paper / strict* matching; iExplain = the {report.get('iexplain_shipped', 'filtered')} union of "
             "all iterations (what `detect` writes).", "",
             "| set | studies (PE-negative) | true PEs | slice AUROC | slice F1 | iExplain F1 | iExplain Dice | "
             "segmenter F1 | segmenter Dice | FP per negative study (iExplain / segmenter) | s per study "
             "(iExplain / segmenter) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for item in report["sets"]:
        if item["skipped"]:
            lines.append(f"| {item['name']} | skipped: {item['skipped']} |||||||||| ")
            continue
        iexplain, segmenter = item["iexplain"], item["segmenter"]
        lines.append(
            f"| {item['name']} | {item['studies']} ({item['negative_studies']}) | {item['true_pes']} | "
            f"{_num(item['slice']['auroc'])} | {_num(item['slice']['f1'])} | {_pair(iexplain['shipped'])} | "
            f"{_num(iexplain['shipped']['dice'])} | {_pair(segmenter)} | {_num(segmenter['dice'])} | "
            f"{_per_study(iexplain['fp_per_negative_study'])} / {_per_study(segmenter['fp_per_negative_study'])} | "
            f"{_per_study(iexplain['seconds_per_study'])} / {_per_study(segmenter['seconds_per_study'])} |")
    return lines + [""]


def _no_contrast(report: dict) -> list[str]:
    block = report.get("no_contrast")
    if not block:
        return []
    if block["warning_check_available"]:
        warned = "issued: " + "; ".join(block["warnings"]) if block["not_ctpa_warning"] else "NOT issued"
    else:
        warned = "no such check in the library yet (the `warnings` field is the hook)"
    return ["## CT without arterial contrast", "",
            f"`{block['case']}` ({'x'.join(str(n) for n in reversed(block['shape_zyx']))} voxels, x y z), read as "
            f"it is: iExplain {block['iexplain_findings']} finding(s) ({block['iexplain_voxels']} voxels), "
            f"segmenter {block['segmenter_findings']} finding(s) ({block['segmenter_voxels']} voxels). "
            f"Warning \"not a CT angiogram\": {warned}.", ""]


def _score_row(label: str, score: dict) -> str:
    paper, strict = score["intersection"], score["strict"]
    return (f"| {label} | {_num(paper['sensitivity'])} | {_num(paper['ppv'])} | {_num(paper['f1'])} | "
            f"{_counts(paper)} | {_num(strict['sensitivity'])} | {_num(strict['ppv'])} | {_num(strict['f1'])} | "
            f"{_counts(strict)} | {_num(score['dice'])} | {score['findings']} |")


def _set_section(item: dict, shipped: str) -> list[str]:
    lines = [f"## Set `{item['name']}`: {item['description']}", ""]
    definition = item["definition"]
    seeds = ", ".join(f"{kind} {', '.join(map(str, definition[key]))}" for kind, key in
                      (("with emboli", "positive_seeds"), ("PE-negative", "negative_seeds")) if definition[key])
    if seeds:
        lines += [f"Seeds: {seeds}.", ""]
    if item["skipped"]:
        return lines + [f"Skipped: {item['skipped']}.", ""]
    s = item["slice"]
    lines += [f"Slices: AUROC {_num(s['auroc'])}, F1 {_num(s['f1'])} (sensitivity {_num(s['sensitivity'])}, "
              f"precision {_num(s['ppv'])}, TP/FP/FN {_counts(s)}) at threshold {s['threshold']:.3g}, "
              f"{s['slices']} slices, {s['positives']} with embolus.", "",
              "| method | paper sensitivity | PPV | F1 | TP/FP/FN | strict sensitivity | PPV | F1 | TP/FP/FN | Dice "
              "| findings |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    iexplain = item["iexplain"]
    for row in iexplain["iterations"]:
        for key in ("unfiltered", "filtered"):
            lines.append(_score_row(f"iExplain k = {row['k']}, {key}", row[key]))
    lines.append(_score_row("segmenter", item["segmenter"]))
    lines += ["", "Stage 2 filters (union of all iterations; the segmenter's thresholded output), the paper's first:", "",
              "| method, filters | paper sensitivity | PPV | F1 | TP/FP/FN | strict sensitivity | PPV | F1 | TP/FP/FN "
              "| Dice | findings |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, rows in item.get("filter_ablation", {}).items():
        for name, score in rows.items():
            lines.append(_score_row(f"{method}, {name}", score))
    best = iexplain["best_iteration"]
    lines += ["", f"iExplain rows: union of iterations 1..k (a study that stopped earlier keeps its final union; "
                  f"rows past the last k would repeat it). Best iteration (filtered F1): paper {best['intersection']}, "
                  f"strict {best['strict']}.", "",
              "| study | true PEs | iExplain findings | paper TP/FP/FN | strict TP/FP/FN | segmenter findings | "
              "paper TP/FP/FN | strict TP/FP/FN | s iExplain | s segmenter |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in item["per_study"]:
        found, seg = row["iexplain"][shipped], row["segmenter"]
        lines.append(f"| {row['case']} | {row['true_pes']} | {found['findings']} | {_counts(found['intersection'])} "
                     f"| {_counts(found['strict'])} | {seg['findings']} | {_counts(seg['intersection'])} | "
                     f"{_counts(seg['strict'])} | {row['iexplain']['seconds']:g} | {seg['seconds']:g} |")
    return lines + [""]


def format_markdown(report: dict) -> str:
    lines = _header(report) + _summary(report) + _no_contrast(report)
    for item in report["sets"]:
        lines += _set_section(item, report.get("iexplain_shipped", "filtered"))
    return "\n".join(lines)


def write_quality_report(report: dict, json_path: str | Path | None, markdown_path: str | Path | None,
                         overwrite: bool = False) -> list[Path]:
    from ..outputs import write_text_atomic

    written = []
    if json_path:
        written.append(write_text_atomic(json_path, json.dumps(report, indent=2) + "\n", overwrite))
    if markdown_path:
        written.append(write_text_atomic(markdown_path, format_markdown(report) + "\n", overwrite))
    return written
