"""``iexplain synth``: synthetic CTPA studies with known emboli, in the RSPECT or the dataset.json layout."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .common import add_overwrite, add_progress, existing_path, progress_from


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="make synthetic CTPA studies with known emboli (phantoms or real anatomy + simulated clots)",
        description="Write N synthetic CTPA studies with exact PE truth. Study i uses seed SEED+i, so a dataset is "
                    "reproducible. --anatomy inserts contrast and clots into a real chest CT instead.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", help="output folder (must not exist unless --overwrite)")
    parser.add_argument("--studies", type=int, default=4, help="number of studies")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first study")
    parser.add_argument("--layout", choices=("rspect", "nifti"), default="rspect",
                        help="rspect: DICOM series + train.csv + boxes.csv + truth NIfTI; nifti: dataset.json layout")
    parser.add_argument("--slices", type=int, default=None,
                        help="slices per study (default 120; with --anatomy: crop a slab of this many slices)")
    parser.add_argument("--size", type=int, default=512, help="in-plane matrix size (phantoms only)")
    parser.add_argument("--spacing-xy", type=float, default=None, help="in-plane pixel spacing in mm (phantoms)")
    parser.add_argument("--slice-thickness", type=float, default=None, help="slice spacing in mm (phantoms)")
    parser.add_argument("--emboli", type=int, default=None, help="emboli per positive study (default: 1-5 at random)")
    parser.add_argument("--negative-fraction", type=float, default=None,
                        help="fraction of negative studies (default: about 0.3, drawn per seed)")
    parser.add_argument("--anatomy", default=None, metavar="CT",
                        help="real chest CT (DICOM folder, NIfTI, NRRD, MHA) to insert contrast and clots into")
    parser.add_argument("--preview", action="store_true", help="also write preview/<case>.png montages")
    add_overwrite(parser)
    add_progress(parser)
    parser.set_defaults(func=run_synth)


def _negative_for(seed: int, fraction: float | None) -> bool | None:
    if fraction is None:
        return None
    import numpy as np

    return bool(np.random.default_rng([seed, 7919]).random() < fraction)


def run_synth(args) -> int:
    from pathlib import Path

    from ..phantoms import make_real_anatomy_study, make_study, write_dataset, write_preview

    if args.studies < 1:
        raise InputError(f"--studies must be at least 1, got {args.studies}")
    if args.seed < 0:
        raise InputError(f"--seed must be non-negative, got {args.seed}")
    if args.negative_fraction is not None and not 0.0 <= args.negative_fraction <= 1.0:
        raise InputError(f"--negative-fraction must be between 0 and 1, got {args.negative_fraction}")
    if args.emboli is not None and args.emboli < 1:
        raise InputError("--emboli must be at least 1 (use --negative-fraction for negative studies)")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"{out} already exists (use --overwrite to replace it)")
    progress = progress_from(args)
    anatomy = None
    if args.anatomy:
        from ..phantoms.real_anatomy import analyse_anatomy, load_anatomy

        progress("synth", 0.0, f"finding lungs and lung vessels in {args.anatomy}")
        anatomy = analyse_anatomy(load_anatomy(existing_path(args.anatomy, "anatomy CT")))

    def studies():
        for i in range(args.studies):
            seed = args.seed + i
            negative = _negative_for(seed, args.negative_fraction)
            emboli = None if negative else args.emboli
            if anatomy is not None:
                yield make_real_anatomy_study(anatomy, seed, n_emboli=emboli, negative=negative, slices=args.slices)
            else:
                yield make_study(seed, slices=args.slices or 120, size=args.size, spacing_xy=args.spacing_xy,
                                 slice_thickness=args.slice_thickness, n_emboli=emboli, negative=negative)

    def on_study(index, study, staging):
        if args.preview:
            write_preview(study, staging / "preview" / f"study-{index:03d}-seed{study.seed}.png")
        summary = ", ".join(f"{e['level']}/{e['side']}" for e in study.emboli) or "negative"
        progress("synth", (index + 1) / args.studies, f"study {index + 1}/{args.studies} seed {study.seed}: {summary}",
                 case=index)

    write_dataset(out, studies(), layout=args.layout, overwrite=args.overwrite, on_study=on_study)
    progress.done(f"wrote {args.studies} studies to {out} ({args.layout} layout)", path=str(out))
    return 0
