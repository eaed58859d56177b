"""``iexplain reproduce``: the whole method at paper scale in one command (a thin face over IExplainLib.reproduce)."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..errors import InputError
from .common import add_device, add_overwrite, add_progress, existing_path, progress_from


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="the whole method in one run inside a time budget: train, tune, pseudo-label, segment, "
                          "finetune, score, benchmark",
        description="Makes phantoms in parallel on every CPU core (or takes --data), trains the classifier (timm "
                    "EfficientNetV2; bf16 autocast and channels_last on CUDA), tunes h, pseudo-labels the training "
                    "studies, trains the segmenter on them, finetunes it on truth-labelled studies against a "
                    "random-init twin, scores everything on the quality command's held-out sets and times the "
                    "bench figures. Each phase gets a share of --minutes and ends on time with what it has. Writes "
                    "OUT/models (safetensors + JSON cards), OUT/quality.json|md, OUT/bench.json and "
                    "OUT/reproduce.json|md. See docs/reproduce.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", help="output folder (must be empty or absent unless --overwrite)")
    parser.add_argument("--minutes", type=float, default=60.0, help="time budget of the whole run")
    parser.add_argument("--data", metavar="DIR", help="dataset folder (dataset.json or RSPECT layout with train.csv) "
                        "instead of phantoms")
    parser.add_argument("--scale", choices=("paper", "toy"), default="paper",
                        help="paper: 512-px phantoms, EfficientNetV2, the paper's IG preset and segmenter; toy: the "
                             "CPU dry run (tiny models, a couple of small phantoms, about a minute)")
    parser.add_argument("--backbone", help="timm EfficientNetV2 name (default tf_efficientnetv2_s at paper scale; "
                        "tf_efficientnetv2_l is the paper's)")
    parser.add_argument("--input-size", type=int, help="classifier input pixels (paper scale default 384; 256-512)")
    parser.add_argument("--batch-size", type=int, help="classifier batch")
    parser.add_argument("--studies", type=int, help="training phantoms (or dataset studies) to make")
    parser.add_argument("--finetune-studies", type=int, help="truth-labelled finetuning studies")
    parser.add_argument("--tune-studies", type=int, help="studies h is tuned on")
    parser.add_argument("--slices", type=int, help="slices per phantom")
    parser.add_argument("--size", type=int, help="in-plane pixels per phantom")
    parser.add_argument("--segmenter-batch", type=int, help="segmenter batch (patches)")
    parser.add_argument("--preset", choices=("paper", "fast"), help="attribution preset of tuning, pseudo-labels "
                        "and quality (default: paper at paper scale)")
    parser.add_argument("--workers", type=int, help="phantom processes (default: every CPU core)")
    parser.add_argument("--real-ct", metavar="DIR", help="folder holding popi_4dct_phase00_chest_ct for the quality "
                        "sets that need it (default: $IEXPLAIN_REAL_CT or ../shared/data/real-ct; skipped if absent)")
    parser.add_argument("--dry-plan", action="store_true", help="print the plan (sizes, whose weights come back from "
                        "a lent GPU machine, seconds per phase) and exit: nothing runs, OUT is not touched")
    parser.add_argument("--no-bundled", dest="compare_bundled", action="store_false",
                        help="do not score the bundled models on the quality sets (the closing decision then keeps "
                             "them: not compared)")
    add_device(parser)
    add_overwrite(parser)
    add_progress(parser)
    parser.set_defaults(func=run_reproduce)


def run_reproduce(args) -> int:
    from pathlib import Path

    from ..reproduce import ReproduceOptions, Reproduction, scale_for
    from ..reproduce.report import format_markdown

    if not args.minutes > 0:
        raise InputError(f"--minutes must be positive, got {args.minutes}")
    if args.input_size is not None and args.input_size < 16:
        raise InputError(f"--input-size must be at least 16, got {args.input_size}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    data = existing_path(args.data, "dataset") if args.data else None
    if args.backbone:
        from ..classifier import available_backbones

        if args.backbone not in available_backbones():
            raise InputError(f"unknown backbone {args.backbone!r} (a timm EfficientNetV2 name, e.g. "
                             "tf_efficientnetv2_l)")
    scale = scale_for(args.scale, backbone=args.backbone, input_size=args.input_size, batch_size=args.batch_size,
                      train_studies=args.studies, finetune_studies=args.finetune_studies,
                      tune_studies=args.tune_studies, slices=args.slices, size=args.size,
                      segmenter_batch=args.segmenter_batch, preset=args.preset)
    if args.dry_plan:
        from ..reproduce.plan import dry_plan, format_plan

        print(format_plan(dry_plan(scale, args.minutes, args.device)))
        return 0
    options = ReproduceOptions(Path(args.out), scale, args.minutes, device=args.device, data=data,
                               overwrite=args.overwrite, real_ct=args.real_ct, workers=args.workers,
                               compare_bundled=args.compare_bundled,
                               command="iexplain " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    report = Reproduction(options, progress_from(args)).run()
    if args.progress != "json":
        print(format_markdown(report))
    failed = [p for p in report["budget"]["phases"] if p["status"] == "failed"]
    for phase in failed:
        print(f"iexplain reproduce: phase {phase['name']} failed: {phase['message']}", file=sys.stderr)
    return 1 if failed else 0
