"""Running the Tables 4-5 analogue end to end: train (or take) the WSL segmenter, finetune it and a randomly
initialised twin on the corrected cases, score everything on held-out phantoms, write JSON + markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..progress import QUIET
from ..segmenter.runs import run_training
from ..segmenter.spec import SegmenterSpec
from ..segmenter.train import TrainConfig
from .segmenter_report import (ReportInputs, check_held_out, claims_of, score_pseudo_labels, score_segmenter,
                               write_report)


def run_report(inputs: ReportInputs, spec: SegmenterSpec, wsl_config: TrainConfig, finetune_config: TrainConfig,
               device: str = "auto", progress=QUIET, overwrite: bool = False, command: str | None = None) -> dict:
    from ..modelfile import load_model_file
    from ..segmenter.finetune import starting_point

    out = Path(inputs.out)
    out.mkdir(parents=True, exist_ok=True)
    check_held_out([inputs.train, inputs.corrected], inputs.test)
    for name in ("segmenter-report.json", "segmenter-report.md"):
        if (out / name).exists() and not overwrite:
            from ..errors import OutputExistsError
            raise OutputExistsError(f"{out / name} already exists (use --overwrite to replace it)")

    rows = {"pseudo": {"model": "iExplain pseudo-labels (Stage 2)", "trained_on": "-",
                       "scored_on": f"{inputs.train.name} (training cases)",
                       "metrics": score_pseudo_labels(inputs.train, inputs.pseudo_labels, progress)}}
    wsl = inputs.wsl_model
    if wsl is None:
        wsl = out / "wsl-segmenter.safetensors"
        run_training(wsl, spec, wsl_config, images=inputs.train, labels=inputs.pseudo_labels, device=device,
                     progress=progress, overwrite=overwrite, command=command)
    rows["wsl"] = {"model": "WSL segmenter", "trained_on": f"pseudo-labels of {inputs.train.name}",
                   "scored_on": f"{inputs.test.name} (held out)",
                   "metrics": score_segmenter(wsl, inputs.test, device, progress)}

    base_spec, wsl_state, provenance = starting_point(str(wsl))
    finetuned = out / "finetuned-from-wsl.safetensors"
    run_training(finetuned, base_spec, finetune_config, images=inputs.corrected, init_state=wsl_state,
                 card={"training": provenance}, device=device, progress=progress, overwrite=overwrite,
                 command=command)
    scratch = out / "random-init.safetensors"
    run_training(scratch, base_spec, finetune_config, images=inputs.corrected, card={"training": {"init": "random"}},
                 device=device, progress=progress, overwrite=overwrite, command=command)
    corrected_cases = len(load_model_file(finetuned)[1]["training"]["data"]["case_ids"])
    for key, model, label in (("finetuned", finetuned, "WSL segmenter finetuned"),
                              ("scratch", scratch, "same network, random init")):
        rows[key] = {"model": label, "trained_on": f"{corrected_cases} corrected cases ({inputs.corrected.name})",
                     "scored_on": f"{inputs.test.name} (held out)",
                     "metrics": score_segmenter(model, inputs.test, device, progress)}

    report: dict[str, Any] = {"format": "iexplain-segmenter-report", "version": 1, "command": command,
                              "spec": base_spec.to_card(),
                              "schedules": {"wsl": None if inputs.wsl_model else _schedule(wsl_config),
                                            "finetune_and_scratch": _schedule(finetune_config)},
                              "wsl_model": str(wsl), "rows": [], "claims": claims_of(rows)}
    for key in ("pseudo", "wsl", "finetuned", "scratch"):
        row = dict(rows[key])
        row["key"] = key
        report["rows"].append(row)
    write_report(report, out, overwrite)
    return report


def _schedule(config: TrainConfig) -> dict:
    return {"iterations": config.iterations, "batch_size": config.batch_size, "lr": config.lr,
            "warmup": config.warmup, "final_lr": config.final_lr}
