"""``iexplain evaluate``, ``iexplain tune-threshold`` and ``iexplain ablation``: measuring detections.

Heavy libraries (torch) are imported inside the command functions so that ``iexplain --help`` answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from .common import (add_device, add_explain_flags, add_overwrite, add_progress, existing_path, explain_overrides,
                     explain_params_file, model_path, progress_from)

INSTANCE_CHOICES = {"auto": None, "instances": True, "components": False}


def register(subparsers) -> None:
    _register_evaluate(subparsers)
    _register_tune(subparsers)
    _register_ablation(subparsers)


def _add_truth_reading(parser) -> None:
    parser.add_argument("--truth-reading", choices=tuple(INSTANCE_CHOICES), default="auto",
                        help="how truth masks become PEs: instance ids (labels 1..N, one per embolus), connected "
                             "components, or auto (instances when a mask holds more than one non-zero value)")


def _register_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="finding-level sensitivity / PPV / F1 of predicted masks (and slice AUROC / F1)",
        description="Compare predicted PE masks with the truth by cluster matching (a predicted cluster and a true "
                    "PE match when they share a voxel). PRED and TRUTH are mask files (.seg.nrrd: union of its "
                    "segments; NIfTI / NRRD / MHA labelmaps), folders of <case> masks, or datasets (dataset.json); "
                    "cases are paired by id and TP / FP / FN are pooled over cases.")
    parser.add_argument("prediction", metavar="PRED", help="predicted mask, folder of masks or dataset")
    parser.add_argument("truth", metavar="TRUTH", help="truth mask, folder of masks or dataset")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("-o", "--output", help="also write the JSON report to this file")
    parser.add_argument("--slice-scores", help="CSV (slice_index,probability) or a folder of <case>.csv")
    parser.add_argument("--slice-labels", help="CSV (slice_index,pe_present) or a folder of <case>.csv; "
                                               "defaults to the truth dataset's slice labels")
    parser.add_argument("--slice-threshold", type=float, default=0.5,
                        help="probability at which a slice counts as positive for the slice F1 (default 0.5)")
    _add_truth_reading(parser)
    add_overwrite(parser)
    add_progress(parser)
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    from ..evaluation.evaluate import evaluate, format_report
    from ..outputs import check_can_write, write_text_atomic

    if args.output:
        check_can_write(args.output, args.overwrite)
    if not 0.0 <= args.slice_threshold <= 1.0:
        raise InputError(f"--slice-threshold must lie in [0, 1], got {args.slice_threshold}")
    report = evaluate(existing_path(args.prediction, "prediction"), existing_path(args.truth, "truth"),
                      args.slice_scores, args.slice_labels, INSTANCE_CHOICES[args.truth_reading],
                      args.slice_threshold, progress=None if args.json else progress_from(args))
    text = json.dumps(report, indent=2)
    if args.output:
        write_text_atomic(args.output, text + "\n", args.overwrite)
    print(text if args.json else format_report(report))
    return 0


def _add_study_set(parser, default_seed: int) -> None:
    parser.add_argument("dataset", metavar="DATASET", nargs="?",
                        help="evaluation dataset with voxel labels (dataset.json); omit with --phantoms")
    group = parser.add_argument_group("phantom set generated on the fly (instead of DATASET)")
    group.add_argument("--phantoms", type=int, metavar="N", help="number of synthetic phantom studies")
    group.add_argument("--seed", type=int, default=default_seed, help=f"first phantom seed (default {default_seed})")
    group.add_argument("--phantom-size", type=int, default=128, help="in-plane pixels of each phantom (default 128)")
    group.add_argument("--phantom-slices", type=int, default=48, help="slices of each phantom (default 48)")
    group.add_argument("--real-anatomy", metavar="CT",
                       help="real chest CT (file or DICOM folder) to insert clots into, e.g. the POPI thorax")
    group.add_argument("--real-anatomy-count", type=int, default=0, metavar="M",
                       help="real-anatomy studies, with the seeds after the synthetic ones")


TUNING_FLAGS = ("--ig-steps", "--references", "--smoothgrad-samples", "--classifier-threshold")
ABLATION_FLAGS = TUNING_FLAGS + ("--max-iterations", "--high-threshold")


def _add_explainer(parser, flags: tuple[str, ...]) -> None:
    parser.add_argument("--classifier", required=True, metavar="M", help="classifier model (.safetensors + .json)")
    add_explain_flags(parser, only=flags, presets=False)
    add_device(parser)
    add_progress(parser)


def _register_tune(subparsers) -> None:
    parser = subparsers.add_parser(
        "tune-threshold", help="choose the explainer's high heat-map threshold h on an evaluation set",
        description="Compute each study's heat map once, sweep h over the cached maps, and pick the largest h whose "
                    "finding-level sensitivity before cluster filtering reaches the target (the paper's "
                    "high-sensitivity operating point). The choice is written to the classifier's model card "
                    "(explain.high_threshold; the previous card is kept as <card>.json.bak). Phantom seeds must lie "
                    "in 8000-8999 so that held-out seeds (>= 9000) stay untouched.")
    _add_study_set(parser, 8000)
    _add_explainer(parser, TUNING_FLAGS)
    parser.add_argument("--target-sensitivity", type=float, default=0.9,
                        help="finding-level sensitivity to reach before filtering (default 0.9)")
    parser.add_argument("--grid", help="comma-separated thresholds to try (default: h/4 .. 4h around the current h)")
    parser.add_argument("-o", "--output", help="write the sweep (JSON) here")
    parser.add_argument("--dry-run", action="store_true", help="report the choice, leave the model card unchanged")
    add_overwrite(parser)
    parser.set_defaults(func=run_tune)


def _register_ablation(subparsers) -> None:
    parser = subparsers.add_parser(
        "ablation", help="the paper's Table 2, Table 3 and Fig. 4 on an evaluation set (JSON + PNG)",
        description="Run iExplain on every study and report finding-level F1 / sensitivity / PPV per cumulative "
                    "iteration (Fig. 4 left), iteration 1 vs the best iteration (Table 2), with vs without cluster "
                    "filtering (Table 3) and the iterations each study needed (Fig. 4 right). Reproducible from "
                    "seeds: --phantoms N --seed 9000 [--real-anatomy CT --real-anatomy-count M].")
    _add_study_set(parser, 9000)
    _add_explainer(parser, ABLATION_FLAGS)
    parser.add_argument("-o", "--output", required=True, metavar="REPORT_DIR",
                        help="folder for ablation.json, ablation.png and ablation.md")
    add_overwrite(parser)
    parser.set_defaults(func=run_ablation)


def _phantom_spec(args):
    from ..evaluation.study_sets import PhantomSetSpec

    if args.phantoms is None and not args.real_anatomy_count:
        if args.dataset is None:
            raise InputError("give a DATASET or --phantoms N")
        return None
    if args.dataset is not None:
        raise InputError("give either a DATASET or --phantoms N, not both")
    if args.real_anatomy:
        existing_path(args.real_anatomy, "real-anatomy CT")
    return PhantomSetSpec(args.phantoms or 0, args.seed, args.phantom_slices, args.phantom_size,
                          args.real_anatomy, args.real_anatomy_count)


def run_tune(args) -> int:
    from ..evaluation.tuning_run import tune_threshold

    if args.dataset is not None:
        existing_path(args.dataset, "dataset")
    if args.output:
        from ..outputs import check_can_write
        check_can_write(args.output, args.overwrite)
    result = tune_threshold(args.dataset, _phantom_spec(args), str(model_path(args.classifier, "classifier")),
                            params_file=explain_params_file(args), overrides=explain_overrides(args),
                            target_sensitivity=args.target_sensitivity, grid_text=args.grid, device=args.device,
                            write_card=not args.dry_run, progress=progress_from(args))
    if args.output:
        from ..outputs import write_text_atomic
        write_text_atomic(args.output, json.dumps(result, indent=2) + "\n", args.overwrite)
    from ..evaluation.tuning_run import format_sweep
    print(format_sweep(result))
    return 0


def run_ablation(args) -> int:
    from ..evaluation.ablation_run import run_ablation_report

    if args.dataset is not None:
        existing_path(args.dataset, "dataset")
    paths = run_ablation_report(args.dataset, _phantom_spec(args), str(model_path(args.classifier, "classifier")),
                                Path(args.output), params_file=explain_params_file(args),
                                overrides=explain_overrides(args),
                                device=args.device, overwrite=args.overwrite, progress=progress_from(args))
    for path in paths:
        print(path)
    return 0
