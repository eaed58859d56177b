"""``train-segmenter``, ``finetune`` and ``segmenter-report``: Stage 3 (MONAI DynUNet on pseudo-labels)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .common import add_device, add_overwrite, add_progress, add_resume, command_line, existing_path, progress_from


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from error
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _add_architecture(parser) -> None:
    group = parser.add_argument_group("architecture (stored in the model card)")
    group.add_argument("--filters", type=_ints, default=(8, 16, 32, 64),
                       help="DynUNet filters per level (paper-scale: 32,64,128,256,320,320); default 8,16,32,64")
    group.add_argument("--patch-size", type=_ints, default=(32, 64, 64),
                       help="training patch and inference window, z,y,x (paper: 64,128,128); default 32,64,64")
    group.add_argument("--inplane-spacing", type=float, default=2.0,
                       help="network in-plane grid in mm (0: the CT's own); default 2.0")
    group.add_argument("--threshold", type=float, default=0.5, help="probability threshold of the mask")
    group.add_argument("--guidance", choices=("none", "candidates"), default="none",
                       help="a second input channel: candidates, the candidate detector's filling defects (found "
                            "from the CT, no training) as a 0/1 map; default none (the CT alone)")


def _add_schedule(parser, iterations: int, lr: float, warmup: int, batch: int) -> None:
    group = parser.add_argument_group("schedule")
    group.add_argument("--iterations", type=int, default=iterations, help=f"default {iterations}")
    group.add_argument("--batch-size", type=int, default=batch, help=f"global batch (default {batch})")
    group.add_argument("--lr", type=float, default=lr, help=f"AdamW learning rate (default {lr:g})")
    group.add_argument("--warmup", type=int, default=warmup, help=f"warmup iterations (default {warmup})")
    group.add_argument("--final-lr", type=float, default=1e-7, help="end of the linear decay (default 1e-7)")
    group.add_argument("--positive-fraction", type=float, default=0.5, help="share of patches holding PE")
    group.add_argument("--mixup-alpha", type=float, default=0.4, help="Mixup Beta(alpha, alpha); 0 turns it off")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--no-amp", action="store_true", help="no mixed precision on GPU")


def _add_run(parser) -> None:
    parser.add_argument("--checkpoint", help="resumable checkpoint (default OUT.checkpoint.pt); a run started "
                        "again with the same options resumes from it, one with others is refused unless --restart")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="iterations between checkpoints")
    add_resume(parser)
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    add_device(parser)
    add_overwrite(parser)
    add_progress(parser)


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train-segmenter", help="train the 3D DynUNet on pseudo-labels (Stage 3)",
        description="Train a MONAI DynUNet on iExplain pseudo-labels (or on a dataset's own labels). Resumable; "
                    "multi-GPU with torchrun --nproc_per_node N -m IExplainLib.cli.main train-segmenter ...")
    train.add_argument("--images", required=True, help="dataset (dataset.json folder or RSPECT layout)")
    train.add_argument("--labels", help="pseudo-label folder from iexplain pseudo-label (default: the dataset's "
                       "own labels)")
    train.add_argument("--out", "-o", required=True, help="model file to write (.safetensors + .json card)")
    _add_architecture(train)
    _add_schedule(train, iterations=50000, lr=1e-4, warmup=1000, batch=32)
    _add_run(train)
    train.set_defaults(func=_train)

    tune = subparsers.add_parser(
        "finetune", help="finetune a segmenter on corrected cases (or train it from scratch on them)",
        description="Finetune a segmenter on a finetuning folder (CTs + corrected labels + dataset.json, as the "
                    "Slicer module exports it). --from scratch trains the same network from random "
                    "initialisation with the same schedule, for comparison.")
    tune.add_argument("--from", dest="source", required=True, help="segmenter model file, or 'scratch'")
    tune.add_argument("--data", required=True, help="finetuning folder with dataset.json")
    tune.add_argument("--out", "-o", required=True, help="model file to write")
    tune.add_argument("--like", help="with --from scratch: copy the architecture of this model")
    _add_architecture(tune)
    _add_schedule(tune, iterations=10000, lr=1e-5, warmup=200, batch=32)
    _add_run(tune)
    tune.set_defaults(func=_finetune)

    report = subparsers.add_parser(
        "segmenter-report", help="Tables 4-5 analogue on phantoms: pseudo-labels vs segmenter, finetune vs scratch",
        description="Score the pseudo-labels, train the WSL segmenter on them (unless --wsl-model), finetune it "
                    "and a random-init twin on corrected cases, score all on held-out phantoms; writes "
                    "segmenter-report.json and segmenter-report.md in --out.")
    report.add_argument("--train", required=True, help="training dataset (CTs + truth, truth only scores the "
                        "pseudo-labels)")
    report.add_argument("--pseudo-labels", required=True, help="pseudo-label folder of --train")
    report.add_argument("--test", required=True, help="held-out dataset with truth (phantom seeds >= 9000)")
    report.add_argument("--corrected", required=True, help="finetuning folder (corrected cases)")
    report.add_argument("--out", "-o", required=True, help="report folder")
    report.add_argument("--wsl-model", help="use this WSL segmenter instead of training one")
    _add_architecture(report)
    _add_schedule(report, iterations=2000, lr=1e-3, warmup=100, batch=4)
    report.add_argument("--finetune-iterations", type=int, default=300)
    report.add_argument("--finetune-lr", type=float, default=1e-4)
    report.add_argument("--finetune-warmup", type=int, default=20)
    _add_run(report)
    report.set_defaults(func=_report)


def _command_line(args) -> str:
    return command_line(args, flags={"source": "--from"})


def _prepare(args) -> None:
    if getattr(args, "threads", None):
        import torch
        torch.set_num_threads(args.threads)


def _spec(args):
    from ..segmenter.spec import SegmenterSpec

    if len(args.patch_size) != 3:
        raise InputError(f"--patch-size needs three sizes z,y,x, got {args.patch_size}")
    if not 0 < args.threshold < 1:
        raise InputError(f"--threshold must lie between 0 and 1, got {args.threshold}")
    try:
        return SegmenterSpec(filters=args.filters, patch_size=args.patch_size,
                             inplane_spacing_mm=args.inplane_spacing or None, threshold=args.threshold,
                             guidance=None if args.guidance == "none" else args.guidance)
    except ValueError as error:
        raise InputError(str(error)) from error


def _config(args, iterations=None, lr=None, warmup=None):
    from ..segmenter.augment import AugmentConfig
    from ..segmenter.train import TrainConfig

    return TrainConfig(iterations=iterations or args.iterations, batch_size=args.batch_size, lr=lr or args.lr,
                       warmup=args.warmup if warmup is None else warmup, final_lr=args.final_lr,
                       positive_fraction=args.positive_fraction, checkpoint_every=args.checkpoint_every,
                       seed=args.seed, amp=not args.no_amp, augment=AugmentConfig(mixup_alpha=args.mixup_alpha))


def _train(args) -> int:
    _prepare(args)
    from ..segmenter.runs import run_training

    existing_path(args.images, "dataset")
    if args.labels:
        existing_path(args.labels, "pseudo-label folder")
    progress = progress_from(args)
    path = run_training(args.out, _spec(args), _config(args), images=args.images, labels=args.labels,
                        device=args.device, checkpoint=args.checkpoint, progress=progress,
                        overwrite=args.overwrite, restart=args.restart, command=_command_line(args))
    if path is not None:
        progress.done(f"segmenter written to {path}", model=str(path))
    return 0


def _finetune(args) -> int:
    _prepare(args)
    from ..segmenter.finetune import starting_point
    from ..segmenter.runs import run_training

    existing_path(args.data, "finetuning folder")
    spec = _spec(args) if args.source == "scratch" and not args.like else None
    spec, state, provenance = starting_point(args.source, like=args.like, spec=spec)
    progress = progress_from(args)
    path = run_training(args.out, spec, _config(args), images=args.data, init_state=state,
                        card={"training": provenance}, device=args.device, checkpoint=args.checkpoint,
                        progress=progress, overwrite=args.overwrite, restart=args.restart,
                        command=_command_line(args))
    if path is not None:
        progress.done(f"segmenter written to {path}", model=str(path))
    return 0


def _report(args) -> int:
    _prepare(args)
    from ..evaluation.segmenter_experiment import run_report
    from ..evaluation.segmenter_report import ReportInputs, markdown_table

    for path, what in ((args.train, "training dataset"), (args.pseudo_labels, "pseudo-label folder"),
                       (args.test, "test dataset"), (args.corrected, "finetuning folder")):
        existing_path(path, what)
    inputs = ReportInputs(Path(args.train), Path(args.pseudo_labels), Path(args.test), Path(args.corrected),
                          Path(args.out), Path(args.wsl_model) if args.wsl_model else None)
    progress = progress_from(args)
    spec = _spec(args)
    if inputs.wsl_model:
        from ..modelfile import read_card
        from ..segmenter.spec import SegmenterSpec
        spec = SegmenterSpec.from_card(read_card(inputs.wsl_model))
    report = run_report(inputs, spec, _config(args),
                        _config(args, args.finetune_iterations, args.finetune_lr, args.finetune_warmup),
                        device=args.device, progress=progress, overwrite=args.overwrite,
                        command=_command_line(args))
    print(markdown_table(report))
    progress.done(f"report written to {args.out}")
    return 0
