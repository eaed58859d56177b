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
    parser.add_argument("--reducer", metavar="M",
                        help="candidate detector's false-positive reducer (default: the bundled demo-reducer)")
    parser.add_argument("--methods", metavar="A,B,...", default="iexplain,segmenter,candidates",
                        help="methods to score: iexplain and segmenter (scored together), candidates (default all)")
    parser.add_argument("--froc-png", metavar="OUT.png", help="also plot the FROC curves (needs candidates)")
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


METHODS = ("iexplain", "segmenter", "candidates")


def _methods(text: str) -> set[str]:
    from ..errors import InputError

    methods = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(methods - set(METHODS))
    if unknown or not methods:
        raise InputError(f"--methods takes names among {', '.join(METHODS)}; got {', '.join(unknown) or 'none'}")
    if len(methods & {"iexplain", "segmenter"}) == 1:
        raise InputError("--methods: iexplain and segmenter are scored together; name both or neither")
    return methods


def run_quality(args) -> int:
    import time

    from ..candidates.detector import CandidateDetector
    from ..errors import InputError
    from ..evaluation.candidate_quality import candidates_markdown, plot_froc, score_candidate_detector
    from ..evaluation.quality_report import format_markdown, write_quality_report
    from ..evaluation.quality_run import _model_entry, run_quality as quality
    from ..outputs import check_can_write

    methods = _methods(args.methods)
    if args.froc_png and "candidates" not in methods:
        raise InputError("--froc-png plots the candidate detector's curves: add candidates to --methods")
    for path in filter(None, (args.json_out, args.markdown, args.froc_png)):
        check_can_write(path, args.overwrite)
    only_sets = [name.strip() for name in args.sets.split(",")] if args.sets else None
    progress = progress_from(args)
    report: dict = {"format": "iexplain-quality", "version": 1, "quick": args.quick, "sets": []}
    if "iexplain" in methods:
        classifier = model_path(args.classifier, "classifier", "demo-classifier")
        segmenter = model_path(args.segmenter, "segmenter", "demo-segmenter")
        preset, params = preset_and_params(args, classifier, args.device)  # as detect chooses it: by device
        report = quality(classifier, segmenter, quick=args.quick, params=params, strict_share=args.strict_share,
                         real_ct_root=args.real_ct, device=args.device, progress=progress,
                         preset=preset.as_dict(), only_sets=only_sets)
    lines = format_markdown(report).splitlines() if "iexplain" in methods else [
        "# IExplain quality report (held-out sets, seeds >= 9000)", ""]
    if "candidates" in methods:
        reducer = model_path(args.reducer, "reducer", "demo-reducer")
        detector = CandidateDetector(reducer)
        started = time.monotonic()
        report["candidates"] = {
            "model": _model_entry(reducer, detector.card, detector.threshold),
            "sets": score_candidate_detector(detector, args.quick, args.real_ct, progress, only_sets=only_sets),
            "seconds": round(time.monotonic() - started, 1)}
        lines += [""] + candidates_markdown(report["candidates"])
        if args.froc_png:
            plot_froc(report["candidates"], args.froc_png, _operating_points(report))
    markdown = "\n".join(lines)
    write_quality_report(report, args.json_out, None, args.overwrite)
    if args.markdown:
        from ..outputs import write_text_atomic

        write_text_atomic(args.markdown, markdown + "\n", args.overwrite)
    if args.progress != "json":
        print(markdown)
    return 0


def _operating_points(report: dict) -> dict:
    """iExplain's and the segmenter's single operating points per set (false findings per study, strict
    sensitivity), for the FROC plot."""
    points = {}
    for item in report.get("sets", []):
        if item.get("skipped") or not item.get("true_pes"):
            continue
        for method, block in (("iExplain", item["iexplain"]["shipped"]), ("segmenter", item["segmenter"])):
            strict = block["strict"]
            if strict["sensitivity"] is not None:
                points[f"{method}: {item['name']}"] = (strict["fp"] / item["studies"], strict["sensitivity"])
    return points
