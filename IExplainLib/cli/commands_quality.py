"""``iexplain quality``: the bundled (or given) models scored on the fixed held-out sets, as text, JSON and markdown.

Heavy libraries (torch) are imported inside the command function so that ``iexplain --help`` answers at once.
"""

from __future__ import annotations

from .common import (add_device, add_explain_flags, add_overwrite, add_progress, model_path, preset_and_params,
                     progress_from)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quality", help="score the classifier, iExplain and the segmenter on fixed held-out sets (JSON + markdown)",
        description="Scores the bundled demo models (or --classifier / --segmenter) on fixed held-out sets made from "
                    "seeds >= 9000: synthetic 512-px phantoms, clots inserted into the real POPI chest CT, "
                    "PE-negative phantoms and the POPI CT itself (no contrast). Reports slice AUROC / F1, iExplain "
                    "pseudo-labels per iteration (filtered and unfiltered), the segmenter, false-positive findings "
                    "per PE-negative study and seconds per study; every finding-level figure with the paper's "
                    "intersection matching and with strict matching, plus voxel Dice. Set definitions: "
                    "docs/evaluation.md.")
    parser.add_argument("--classifier", metavar="M", help="classifier model (default: the bundled demo-classifier)")
    parser.add_argument("--segmenter", metavar="M", help="segmenter model (default: the bundled demo-segmenter)")
    parser.add_argument("--json", dest="json_out", metavar="OUT.json", help="write the report as JSON")
    parser.add_argument("--markdown", metavar="OUT.md", help="write the report as markdown")
    parser.add_argument("--quick", action="store_true",
                        help="tiny versions of the sets (seconds, for tests; the figures mean nothing)")
    parser.add_argument("--strict-share", type=float, default=0.10, metavar="X",
                        help="strict matching: share of a finding's voxels that must be embolus (default 0.10)")
    parser.add_argument("--real-ct", metavar="DIR",
                        help="folder holding popi_4dct_phase00_chest_ct (default: $IEXPLAIN_REAL_CT or "
                             "../shared/data/real-ct)")
    parser.add_argument("--sets", metavar="A,B,...",
                        help="score only these sets (synthetic, real-anatomy, negative, no-contrast; default all): "
                             "costly settings such as --preset paper on a CPU, one part at a time")
    add_explain_flags(parser)
    add_device(parser)
    add_overwrite(parser)
    add_progress(parser)
    parser.set_defaults(func=run_quality)


def run_quality(args) -> int:
    from ..evaluation.quality_report import format_markdown, write_quality_report
    from ..evaluation.quality_run import run_quality as quality
    from ..outputs import check_can_write

    for path in filter(None, (args.json_out, args.markdown)):
        check_can_write(path, args.overwrite)
    classifier = model_path(args.classifier, "classifier", "demo-classifier")
    segmenter = model_path(args.segmenter, "segmenter", "demo-segmenter")
    preset, params = preset_and_params(args, classifier, args.device)  # as detect chooses it: by device
    report = quality(classifier, segmenter, quick=args.quick, params=params, strict_share=args.strict_share,
                     real_ct_root=args.real_ct, device=args.device, progress=progress_from(args),
                     preset=preset.as_dict(),
                     only_sets=[name.strip() for name in args.sets.split(",")] if args.sets else None)
    write_quality_report(report, args.json_out, args.markdown, args.overwrite)
    if args.progress != "json":
        print(format_markdown(report))
    return 0
