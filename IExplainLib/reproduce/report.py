"""The reproduce report: one JSON document (``reproduce.json``) and its markdown (``reproduce.md``), rewritten after
every phase so that an interrupted or failed run still shows every phase that finished."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from ..findings import score_text
from .quality_phase import BUNDLED, METHOD, MODELS, decision_markdown

REPORT_FORMAT = "iexplain-reproduce"


def environment(device) -> dict:
    import torch

    try:
        import timm
        timm_version = timm.__version__
    except ImportError:
        timm_version = None
    name = str(device)
    if getattr(device, "type", "") == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    return {"device": name, "torch": torch.__version__, "timm": timm_version, "python": sys.version.split()[0],
            "host": platform.machine(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def build_report(run) -> dict:
    """The JSON-ready report of a :class:`~.pipeline.Reproduction` as it stands now."""
    from .. import __version__
    from ..modelfile import model_paths

    models = {}
    for key, path in run.paths.items():
        weights, card = model_paths(path)
        if weights.exists() and card.exists():
            models[key] = {"weights": str(weights.relative_to(run.out)), "card": str(card.relative_to(run.out)),
                           "bytes": weights.stat().st_size}
    return {"format": REPORT_FORMAT, "version": 1, "iexplain_version": __version__, "command": run.options.command,
            "scale": run.scale.to_dict(), "data": str(run.options.data) if run.options.data else "phantoms",
            "environment": environment(run.device) if run.device is not None else {},
            "budget": run.budget.summary(), "models": models,
            "phases": {record.name: {**record.as_dict(), "result": record.result} for record in run.budget.records}}


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _f1(block) -> str:
    if not isinstance(block, dict) or "intersection" not in block:
        return "-" if not isinstance(block, dict) else f"skipped ({block.get('skipped', '?')})"
    return f"{_num(block['intersection']['f1'])} / {_num(block['strict']['f1'])}"


def _bench_lines(bench: dict) -> list[str]:
    lines = []
    figures = bench.get("attribution") or {}
    keys = ("model", "device", "input", "work", "captum_loop_seconds", "engine_seconds", "speedup_vs_captum_loop",
            "engine_bf16_seconds", "speedup_bf16_vs_captum_loop", "engine_tflops", "engine_bf16_tflops",
            "bf16_peak_tflops", "measured_bf16_matmul_tflops", "batch_windows", "batch_engine_bf16_seconds",
            "batch_speedup_bf16_vs_captum_loop_estimated", "study_300_all_positive_bf16_seconds_estimated",
            "max_relative_difference", "max_relative_difference_bf16",
            "study_windows", "study_speedup_vs_captum_loop_estimated")
    lines += [f"| attribution {key} | {_num(figures[key])} |" for key in keys if key in figures]
    agreement = figures.get("bf16_vs_fp32") or {}
    lines += [f"| attribution bf16 vs fp32 {key} | {_num(value, 4)} |" for key, value in agreement.items()]
    segmenter = bench.get("segmenter") or {}
    segmenter_keys = ("study_shape_zyx", "device", "network", "seconds", "gpu_peak_allocated_gb", "peak_rss_gb",
                      "skipped")
    lines += [f"| segmenter {key} | {_num(segmenter[key])} |" for key in segmenter_keys if key in segmenter]
    for name, block in (("attribution", figures), ("segmenter", segmenter)):
        parts = block.get("parts") or {}
        for kind in ("skipped", "cut"):
            lines += [f"| {name} part {part} {kind} | {why} |" for part, why in (parts.get(kind) or {}).items()]
        lines += [f"| {name} part {part} error | {why} |" for part, why in (block.get("errors") or {}).items()]
    return ["| figure | value |", "|---|---|"] + lines if lines else []


def _candidate_lines(quality: dict) -> list[str]:
    """The candidate detector (this run's reducer) on the held-out sets, as CAD-PE results are reported."""
    candidates = quality.get("candidates") or {}
    if "skipped" in candidates:
        return ["", f"Candidate detector: skipped ({candidates['skipped']})."]
    rows = [(name, block["candidates"]) for name, block in quality["sets"].items()
            if "candidates" in block and "skipped" not in block["candidates"]]
    if not rows:
        return []
    lines = ["", "### Candidate detector with this run's reducer (strict matching)", "",
             "| set | studies | threshold | strict TP/FP/FN | sensitivity @0.5/1/2/4/8 FP per study | "
             "FP per negative study | s per study |", "|---|---|---|---|---|---|---|"]
    for name, block in rows:
        strict = block["strict"]
        froc = " / ".join("-" if v is None else f"{v:.2f}" for v in block["froc"].values())
        lines.append(f"| {name} | {block['studies']}{' (partial)' if block.get('partial') else ''} | "
                     f"{score_text(block['threshold'])} | {strict['tp']}/{strict['fp']}/{strict['fn']} | {froc} | "
                     f"{_num(block['fp_per_negative_study'])} | {_num(block['seconds_per_study'])} |")
    return lines


def format_markdown(report: dict) -> str:
    budget = report["budget"]
    lines = ["# iexplain reproduce", "",
             f"- command: `{report['command']}`",
             f"- scale: {report['scale']['name']}, data: {report['data']}",
             f"- environment: {report['environment'].get('device', '?')}, torch {report['environment'].get('torch')}, "
             f"{report['environment'].get('cpus')} CPUs",
             f"- budget: {budget['minutes']:g} min; used {budget['seconds_used']:.0f} s; "
             f"{'inside' if budget['ended_inside_budget'] else 'OVER'} the budget", "",
             "## Phases", "", "| phase | status | allotted s | used s | over s | note |", "|---|---|---|---|---|---|"]
    for phase in budget["phases"]:
        lines.append(f"| {phase['name']} | {phase['status']} | {phase['allotted_s']:.0f} | {phase['seconds']:.0f} | "
                     f"{phase['over_s']:.0f} | {phase['message']} |")
    phases = report["phases"]
    result = lambda name: (phases.get(name) or {}).get("result") or {}  # noqa: E731
    classifier, tune, pseudo = result("classifier"), result("tune"), result("pseudo-label")
    lines += ["", "## Stages", ""]
    if classifier:
        validation = classifier.get("validation") or {}
        lines.append(f"- classifier {classifier['backbone']} at {classifier['input_size']} px: {classifier['steps']} "
                     f"steps, validation AUROC {_num(validation.get('auroc'))}, F1 {_num(validation.get('f1'))}")
    if tune and tune.get("high_threshold") is None:
        lines.append(f"- {tune.get('message', 'h was not tuned')}")
    elif tune:
        lines.append(f"- h = {tune['high_threshold']:g} on {tune['studies']} studies ({tune['preset']} preset; target "
                     f"sensitivity {'met' if tune['target_met'] else 'not met'})")
    reducer = result("reducer")
    if reducer:
        tuning = reducer.get("tuning") or {}
        lines.append(f"- reducer {reducer['architecture']} ({reducer['supervision']}, slice labels only): "
                     f"{reducer['training_studies']} of {reducer['of']} training studies, {reducer['candidates']} "
                     f"candidates, {reducer['epochs']} epochs; threshold {reducer['threshold']:g} "
                     f"({reducer['threshold_source']}" +
                     (f": {tuning['studies']} studies, strict F1 {_num(tuning.get('f1'))})" if tuning else ")"))
    if pseudo:
        score = pseudo.get("score")
        lines.append(f"- pseudo-labels: {pseudo['studies']} of {pseudo['of']} training studies, "
                     f"{pseudo['seconds_per_study']} s each" +
                     (f"; against truth F1 paper / strict {_f1(score)}" if score else ""))
    for name in ("segmenter", "finetune"):
        block = result(name)
        for label, run in ((("WSL segmenter", block),) if name == "segmenter" else
                           (("finetuned from WSL", block.get("finetuned")), ("random init", block.get("random_init")))):
            if run:
                lines.append(f"- {label}: {run['iterations']} of {run['planned_iterations']} iterations, "
                             f"final loss {_num(run['final_training_loss'])}")
    quality = result("quality")
    if quality:
        lines += ["", "## Held-out quality sets (F1 paper / strict)", "",
                  "| set | studies | slice AUROC | iExplain | WSL segmenter | finetuned | random init | candidates |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, block in quality["sets"].items():
            if "skipped" in block:
                lines.append(f"| {name} | skipped: {block['skipped']} |||||||")
                continue
            lines.append(f"| {name} | {block['studies']}{' (partial)' if block.get('partial') else ''} | "
                         f"{_num(block['slice']['auroc'])} | {_f1(block['iexplain'])} | {_f1(block['wsl_segmenter'])} "
                         f"| {_f1(block.get('finetuned'))} | {_f1(block.get('random_init'))} | "
                         f"{_f1(block.get('candidates'))} |")
        lines += _candidate_lines(quality)
        lines += ["", "Full per-set tables: `quality.md` / `quality.json` (the `iexplain quality` report)."]
    bench = result("bench")
    if bench:
        lines += ["", "## Speed (`iexplain bench` figures)", ""] + _bench_lines(bench)
    lines += ["", *decision_markdown(quality.get("decision") or {name: _unscored(name) for name in MODELS})]
    return "\n".join(lines) + "\n"


def _unscored(model: str) -> dict:
    return {"method": METHOD[model], "bundled_model": BUNDLED[model], "sets": {}, "decision": "keep",
            "why": "the quality phase did not score it"}


def write_report(report: dict, out: Path) -> list[Path]:
    from ..outputs import write_text_atomic

    return [write_text_atomic(Path(out) / "reproduce.json", json.dumps(report, indent=2, default=str) + "\n",
                              overwrite=True),
            write_text_atomic(Path(out) / "reproduce.md", format_markdown(report), overwrite=True)]
