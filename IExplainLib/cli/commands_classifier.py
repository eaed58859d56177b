"""``iexplain train-classifier``: Stage 1, the 2.5D slice classifier (single process or under torchrun)."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .common import add_device, add_overwrite, add_progress, add_resume, command_line, existing_path, progress_from


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-classifier", help="train the Stage 1 slice classifier (resumable; multi-GPU with torchrun)",
        description="Trains the 2.5D slice classifier (timm EfficientNetV2, global max pooling) on slice-labelled "
                    "studies: RSPECT layout (train.csv) or dataset.json folders. Writes MODEL.safetensors plus its "
                    "JSON card, and a checkpoint beside it: the same command started again resumes it (one of other "
                    "settings is refused unless --restart). Multi-GPU: "
                    "torchrun --nproc_per_node 4 -m IExplainLib.cli.main train-classifier ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("data", nargs="+", help="dataset folder(s): dataset.json or RSPECT (train.csv)")
    parser.add_argument("--out", "-o", required=True, help="model to write (MODEL.safetensors + MODEL.json)")
    parser.add_argument("--backbone", default=None,
                        help="timm EfficientNetV2 name (tf_efficientnetv2_l is the paper's) or another timm CNN "
                             "(e.g. mobilenetv3_small_100); default iexplain_efficientnetv2_tiny")
    parser.add_argument("--slices", type=int, default=7, help="consecutive slices per input (odd)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="in-plane pixels each slice is resampled to (default 128, or the --init model's)")
    parser.add_argument("--field-of-view", type=float, default=None, metavar="MM",
                        help="look only at the central square of this side in mm (e.g. 224: the paper's distance "
                             "filter); default the whole slice (or the --init model's)")
    parser.add_argument("--region", choices=["chest", "none"], default=None,
                        help="chest: set everything outside the lungs and mediastinum, and all bone, to 0 before the "
                             "network sees it (found from HU; see docs/classifier.md); default none (or the --init "
                             "model's)")
    parser.add_argument("--window", action="append", metavar="CENTRE,WIDTH",
                        help="HU window (repeat for several; channels are window-major); default 100,700. With --init: the "
                             "model's windows first, then those to add (their first-layer weights start at zero)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate")
    parser.add_argument("--warmup", type=int, default=100, help="warmup steps before linear decay to 1e-7")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--samples-per-epoch", type=int, default=None,
                        help="slices drawn per epoch (balanced positives/negatives); default all training slices")
    parser.add_argument("--crop", type=int, default=0,
                        help="train on CROP x CROP patches (around labelled PE voxels where the data has voxel "
                             "labels, around vessels elsewhere); 0 = whole slices")
    parser.add_argument("--hard-negatives", action="store_true",
                        help="with --crop: at every epoch, centre half of the negative patches where the current "
                             "network sees the most PE evidence in that slice (hard-negative mining)")
    parser.add_argument("--positive-centres", choices=("truth", "evidence", "image"), default="truth",
                        help="with --crop: centre PE patches on labelled voxels (truth, where a study has a voxel "
                             "label), at every epoch where the current network sees the most PE evidence in the "
                             "slice (evidence: slice labels only), or on small clot-density spots inside opacified "
                             "lumen found from HU (image: slice labels only, no network needed)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="studies held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="study split and sampling seed")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--no-amp", action="store_true", help="no mixed precision on GPU")
    parser.add_argument("--no-augment", action="store_true", help="no flips/affine/contrast/Cutout")
    parser.add_argument("--cutout", type=float, default=None, metavar="P",
                        help="chance of each of the two Cutout boxes (0 = no Cutout, flips/affine/contrast kept); "
                             "default 0.7")
    parser.add_argument("--checkpoint-every", type=int, default=None, help="also checkpoint every N steps")
    parser.add_argument("--cpu-budget", type=float, default=None, metavar="SECONDS",
                        help="end on this much CPU time of this process (cache preparation included), the schedule "
                             "shrunk to fit: runs that compare recipes at equal CPU; one process only")
    parser.add_argument("--cache", default=None, help="prepared-study cache folder (default MODEL.cache)")
    add_resume(parser)
    parser.add_argument("--init", default=None, metavar="CLASSIFIER",
                        help="start from this classifier model's weights (and its backbone, slices, input size, "
                             "windows): continued training or adaptation to new data; a new schedule and split")
    add_device(parser)
    add_progress(parser)
    add_overwrite(parser)
    parser.set_defaults(func=run_train_classifier)


def _init_spec(init, args):
    """The --init model's spec with the weight-independent settings given on the command line, or None."""
    from dataclasses import replace

    from ..classifier import parse_window
    from ..classifier.inference import read_classifier

    changes = {}
    if args.input_size is not None:
        changes["input_size"] = args.input_size
    if args.field_of_view is not None:
        changes["field_of_view_mm"] = args.field_of_view
    if args.region is not None:
        changes["region"] = None if args.region == "none" else args.region
    if args.window:
        changes["hu_windows"] = [parse_window(w) for w in args.window]
    return replace(read_classifier(init)[1], **changes) if changes else None


def _augment_from(args, spec):
    """False (--no-augment), the default augmentation (None), or one with the Cutout chance of --cutout."""
    from ..classifier import Cutout, TrainAugment

    if args.no_augment:
        return False
    if args.cutout is None:
        return None
    if not 0.0 <= args.cutout <= 1.0:
        raise InputError(f"--cutout is a chance in [0, 1], got {args.cutout}")
    return TrainAugment(slices=spec.slices, windows=len(spec.hu_windows), cutout=Cutout(p=args.cutout))


def _cpu_budget_from(args) -> dict:
    import time

    if args.cpu_budget is None:
        return {}
    if args.cpu_budget <= 0:
        raise InputError(f"--cpu-budget needs a positive number of seconds, got {args.cpu_budget}")
    return {"deadline": time.process_time() + args.cpu_budget, "clock": time.process_time}


def run_train_classifier(args) -> int:
    from ..classifier import ClassifierSpec, ClassifierTrainConfig, parse_window, train_classifier
    from ..classifier.inference import read_classifier
    from ..classifier.spec import DEFAULT_BACKBONE

    roots = [existing_path(path, "dataset") for path in args.data]
    init = existing_path(args.init, "classifier model") if args.init else None
    spec = _init_spec(init, args) if init else ClassifierSpec(
        backbone=args.backbone or DEFAULT_BACKBONE, slices=args.slices, input_size=args.input_size or 128,
        field_of_view_mm=args.field_of_view, region=None if args.region in (None, "none") else args.region,
        hu_windows=[parse_window(w) for w in args.window] if args.window else [(100.0, 700.0)])
    progress = progress_from(args)
    augment_spec = spec
    if augment_spec is None:  # _init_spec changed no setting of the --init model: its own spec
        assert init is not None
        augment_spec = read_classifier(init)[1]
    config = ClassifierTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
        weight_decay=args.weight_decay, val_fraction=args.val_fraction, samples_per_epoch=args.samples_per_epoch,
        seed=args.seed, workers=args.workers, amp=not args.no_amp, checkpoint_every=args.checkpoint_every,
        crop=args.crop, hard_negatives=args.hard_negatives, positive_centres=args.positive_centres)
    result = train_classifier(
        roots[0] if len(roots) == 1 else roots, args.out, spec, config, init=init, device=args.device,
        restart=args.restart, progress=progress, overwrite=args.overwrite, augment=_augment_from(args, augment_spec),
        cache_dir=args.cache, command=command_line(args, positional=("data",)),
        **_cpu_budget_from(args))
    if progress.mode == "text" and result["model"] is not None:
        metrics = result["metrics"]
        summary = ", ".join(f"{k} {metrics[k]:.3f}" for k in ("auroc", "f1", "threshold") if k in metrics)
        print(f"wrote {result['model']}" + (f" (validation {summary})" if summary else ""))
    return 0
