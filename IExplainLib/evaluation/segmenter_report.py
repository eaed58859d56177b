"""The analogue of the paper's Tables 4 and 5 on phantoms, in one call.

Table 4: the pseudo-labels the segmenter learnt from (scored against the phantoms' truth) vs the segmenter trained
on them, run on held-out phantoms it never saw. Table 5: the same small set of "corrected" cases (phantom truth
standing in for a radiologist's corrections) used to finetune the WSL segmenter and to train the same network from
random initialisation with the same schedule, both scored on the held-out phantoms. Finding-level metrics are the
paper's cluster matching (:mod:`.finding_metrics`). It lives in ``evaluation/`` because it scores segmenters: the
segmenter package never imports ``evaluation/`` (the run itself is :mod:`.segmenter_experiment`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..progress import QUIET
from .finding_metrics import match_findings, pooled


@dataclass
class ReportInputs:
    train: Path                 # dataset with CTs and truth labels (truth used only to score the pseudo-labels)
    pseudo_labels: Path         # iexplain pseudo-label output for the train dataset
    test: Path                  # held-out dataset with truth
    corrected: Path             # finetuning folder: CTs + corrected labels
    out: Path
    wsl_model: Path | None = None


def _truth_by_id(dataset: Path) -> dict:
    from ..datasets import open_dataset

    cases = {case.id: case for case in open_dataset(dataset) if case.label is not None}
    if not cases:
        raise InputError(f"{dataset} has no case with a truth label")
    return cases


def score_masks(pairs, progress=QUIET, stage: str = "score") -> dict:
    """Pooled finding-level counts of ``(case_id, prediction, truth)`` triples."""
    per_case, counts = {}, []
    for index, (case_id, prediction, truth) in enumerate(pairs):
        result = match_findings(prediction, truth)
        counts.append(result)
        per_case[case_id] = result.as_dict()
        progress(stage, (index + 1) / max(1, len(pairs)) if hasattr(pairs, "__len__") else None, case_id)
    return {**pooled(counts).as_dict(), "cases": len(per_case), "per_case": per_case}


def score_pseudo_labels(train: Path, pseudo_labels: Path, progress=QUIET) -> dict:
    """Pseudo-labels vs truth, on the cases the segmenter trains on."""
    from ..io import read_volume
    from ..segmenter.data import pseudo_label_entries

    truth = _truth_by_id(train)
    entries = pseudo_label_entries(pseudo_labels)
    common = sorted(set(truth) & set(entries))
    if not common:
        raise InputError(f"no case id of {pseudo_labels} has a truth label in {train}")
    triples = [(case_id, read_volume(entries[case_id][0]).array, read_volume(truth[case_id].label).array)
               for case_id in common]
    return score_masks(triples, progress, "score pseudo-labels")


def score_segmenter(model: Path, test: Path, device: str = "auto", progress=QUIET) -> dict:
    """A segmenter's detections (:class:`~IExplainLib.segmenter.inference.Segmenter`, its card's filters) vs truth
    on the held-out cases."""
    from ..io import read_volume
    from ..segmenter.inference import Segmenter

    segmenter = Segmenter(model, device=device)
    triples = []
    for case_id, case in _truth_by_id(test).items():
        volume = read_volume(case.image)
        mask, _ = segmenter.segment(volume)
        triples.append((case_id, mask, read_volume(case.label).array))
    return score_masks(triples, progress, f"score {Path(model).stem}")


def check_held_out(train_sets: list[Path], test: Path) -> None:
    """Refuse a test set that shares a study (StudyInstanceUID in the provenance) or a CT file with a training set.

    Case ids are not compared: they are names local to a dataset (every ``iexplain synth`` run calls its studies
    case-000, case-001, ...)."""
    from ..datasets import open_dataset

    def identities(case) -> set:
        found = {("file", Path(case.image).resolve())}
        if case.provenance.get("study_uid"):
            found.add(("study", case.provenance["study_uid"]))
        return found

    test_identities = set().union(*(identities(case) for case in open_dataset(test)))
    for dataset in train_sets:
        for case in open_dataset(dataset):
            if identities(case) & test_identities:
                raise InputError(f"case {case.id} of training set {dataset} is also in the test set {test}: the "
                                 "report needs held-out studies")


def _fmt(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown_table(report: dict) -> str:
    lines = ["# Segmenter report (phantom analogue of the paper's Tables 4 and 5)", "",
             "Finding-level metrics (cluster matching: a prediction and a true embolus match when they touch).", "",
             "| model | trained on | scored on | TP | FP | FN | sensitivity | PPV | F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        m = row["metrics"]
        lines.append(f"| {row['model']} | {row['trained_on']} | {row['scored_on']} | {m['tp']} | {m['fp']} | "
                     f"{m['fn']} | {_fmt(m['sensitivity'])} | {_fmt(m['ppv'])} | {_fmt(m['f1'])} |")
    lines += ["", *[f"- {claim}" for claim in report["claims"]], ""]
    return "\n".join(lines)


def write_report(report: dict, out: Path, overwrite: bool) -> tuple[Path, Path]:
    from ..outputs import write_text_atomic

    json_path = write_text_atomic(out / "segmenter-report.json", json.dumps(report, indent=2) + "\n", overwrite)
    md_path = write_text_atomic(out / "segmenter-report.md", markdown_table(report), overwrite)
    return json_path, md_path


def claims_of(rows: dict) -> list[str]:
    """The report's verdicts, stated with the numbers they rest on."""
    def f1(name):
        return rows[name]["metrics"]["f1"] or 0.0

    claims = [f"WSL segmenter F1 on held-out {_fmt(f1('wsl'))} vs its pseudo-labels' F1 {_fmt(f1('pseudo'))}: "
              + ("segmenter >= pseudo-labels" if f1("wsl") >= f1("pseudo") else "segmenter BELOW its pseudo-labels")]
    if "finetuned" in rows and "scratch" in rows:
        better = f1("finetuned") > f1("scratch")
        claims.append(f"finetuned from WSL F1 {_fmt(f1('finetuned'))} vs random init F1 {_fmt(f1('scratch'))} "
                      f"(same cases, same schedule): {'finetuning wins' if better else 'finetuning does NOT win'}")
    return claims
