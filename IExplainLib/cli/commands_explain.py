"""``iexplain detect`` (one study -> PE segmentation) and ``iexplain pseudo-label`` (Stage 2 over a dataset).

``add_explain_flags`` / ``explain_params_from`` are shared with the evaluation commands, so every iExplain
parameter is spelled the same everywhere: ``--params FILE.json`` first, then any per-parameter flag on top.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..modelfile import bundled_model
from ..errors import InputError
from .common import add_device, add_overwrite, add_progress, existing_path, progress_from

DEFAULT_CLASSIFIER = bundled_model("demo-classifier")

# flag -> (ExplainParams field, type, help)
_PARAM_FLAGS = {
    "--ig-steps": ("n_steps", int, "Integrated Gradients steps (default 20)"),
    "--quadrature": ("quadrature", str, "IG quadrature: gausslegendre (default), riemann_trapezoid, riemann_left, "
                                        "riemann_right, riemann_middle"),
    "--references": ("references", lambda t: [r.strip() for r in t.split(",") if r.strip()],
                     "comma-separated IG references: zero, one, mean, blur, uniform_noise, gaussian_noise "
                     "(default zero,blur,mean,uniform_noise,one)"),
    "--smoothgrad-samples": ("smoothgrad_samples", int, "SmoothGrad noise samples (1 = plain IG; default 3)"),
    "--smoothgrad-stdev": ("smoothgrad_stdev", float, "SmoothGrad noise stdev in windowed input units (default 0.05)"),
    "--high-threshold": ("high_threshold", float, "hysteresis high threshold h on the normalised heat map"),
    "--low-ratio": ("low_ratio", float, "low threshold as a fraction of h (default 0.5)"),
    "--max-iterations": ("max_iterations", int, "Algorithm 1 iteration limit (default 10)"),
    "--min-new-voxels": ("min_new_voxels", int, "stop when an iteration finds fewer new voxels (at 512 px; 50)"),
    "--classifier-threshold": ("classifier_threshold", float, "PE probability threshold (default: the model card's)"),
    "--min-cluster-voxels": ("min_cluster_voxels", int, "filter: drop clusters smaller than this (at 512 px; 100)"),
    "--max-center-distance": ("max_center_distance_px", float, "filter: drop clusters farther from the image "
                                                               "centre (px at 512; 160)"),
    "--location-filter": ("location_filter", str, "filter: centre (the paper's distance from the image centre) or "
                                                  "chest (inside the lungs and mediastinum found from HU)"),
    "--defect-check": ("defect_check", lambda t: t.lower() in ("1", "yes", "true", "on"),
                       "filter: yes = keep only clot-density cores inside opacified lumen (beyond the paper)"),
    "--batch-size": ("batch_size", int, "rows per attribution forward/backward pass (memory vs speed)"),
    "--seed": ("seed", int, "seed of random references and SmoothGrad noise"),
}


def _dest(flag: str) -> str:
    return "explain_" + flag.lstrip("-").replace("-", "_")


def add_explain_flags(parser) -> None:
    group = parser.add_argument_group("iExplain parameters (paper defaults; see docs/explain.md)")
    group.add_argument("--params", dest="explain_params_file", metavar="JSON",
                       help="ExplainParams JSON file; the flags below override it")
    for flag, (_, kind, text) in _PARAM_FLAGS.items():
        metavar = {int: "N", float: "X", str: "NAME"}.get(kind, "A,B,...")
        group.add_argument(flag, dest=_dest(flag), type=kind, default=None, metavar=metavar, help=text)
    group.add_argument("--no-filter", dest="explain_no_filter", action="store_true",
                       help="keep every cluster (no size / distance filter)")


def explain_params_from(args, classifier=None):
    """ExplainParams: defaults, the classifier card's ``explain`` section, ``--params``, then per-parameter flags."""
    from ..explain.params import params_for_model
    from ..modelfile import read_card

    changes = {field: getattr(args, _dest(flag), None) for flag, (field, _, _) in _PARAM_FLAGS.items()}
    if getattr(args, "explain_no_filter", False):
        changes["filter"] = False
    card = read_card(classifier) if classifier is not None else None
    return params_for_model(card, getattr(args, "explain_params_file", None), changes)


def register(subparsers) -> None:
    detect = subparsers.add_parser(
        "detect", help="one CT in, PE segmentation out (iExplain or the trained segmenter)",
        description="Finds pulmonary emboli in one CT (DICOM folder, NIfTI, NRRD, MHA). --method iexplain writes one "
                    "segment per iteration ('PE iteration k') and the heat map; --method segmenter writes the "
                    "segmenter's mask and probability map. A findings table (OUT.findings.json) is written beside "
                    "the segmentation. Outputs are in the CT's exact geometry.")
    detect.add_argument("ct", help="CT: DICOM series folder or image file")
    detect.add_argument("-o", "--output", required=True, help="output segmentation (.seg.nrrd)")
    detect.add_argument("--method", choices=("iexplain", "segmenter"), default="iexplain")
    detect.add_argument("--classifier", help="classifier model (.safetensors + .json card; default: bundled demo)")
    detect.add_argument("--segmenter", help="segmenter model (needed with --method segmenter)")
    detect.add_argument("--heatmap", help="also write the iExplain heat map (.nrrd) on the CT grid")
    detect.add_argument("--probability", help="also write the segmenter's probability map (.nrrd)")
    detect.add_argument("--findings", help="findings table (default: OUT with .findings.json)")
    add_explain_flags(detect)
    add_device(detect)
    add_overwrite(detect)
    add_progress(detect)
    detect.set_defaults(func=run_detect)

    pseudo = subparsers.add_parser(
        "pseudo-label", help="Stage 2: iExplain pseudo-labels for every case of a dataset (resumable, sharded)",
        description="Runs iExplain on every case of a dataset (dataset.json or RSPECT layout) and writes "
                    "DIR/labels/<id>.nii.gz, segmentations/, heatmaps/, findings/ and DIR/dataset.json. Finished "
                    "cases are skipped on a rerun. Split the work with --shard I/N or torchrun (RANK/WORLD_SIZE).")
    pseudo.add_argument("dataset", help="dataset folder (dataset.json or RSPECT train.csv layout)")
    pseudo.add_argument("-o", "--output", required=True, help="output folder")
    pseudo.add_argument("--classifier", help="classifier model (default: bundled demo)")
    pseudo.add_argument("--shard", help="I/N: process cases I, I+N, ... (default: torchrun RANK/WORLD_SIZE or all)")
    add_explain_flags(pseudo)
    add_device(pseudo)
    pseudo.add_argument("--overwrite", action="store_true", help="recompute finished cases too")
    add_progress(pseudo)
    pseudo.set_defaults(func=run_pseudo_label)


def _classifier_path(args) -> Path:
    from ..modelfile import model_paths

    path = Path(args.classifier) if args.classifier else DEFAULT_CLASSIFIER
    weights, _ = model_paths(path)
    if not weights.exists():
        hint = "" if args.classifier else " (the bundled demo classifier is missing; pass --classifier)"
        raise InputError(f"classifier {weights} not found{hint}")
    return weights


def findings_path_for(output: str | Path) -> Path:
    output = Path(output)
    name = output.name
    for ending in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(ending):
            return output.with_name(name[: -len(ending)] + ".findings.json")
    return output.with_name(name + ".findings.json")


def run_detect(args) -> int:
    from ..outputs import check_can_write, write_text_atomic

    ct = existing_path(args.ct, "CT")
    if not str(args.output).lower().endswith(".seg.nrrd"):
        raise InputError(f"output {args.output} must end with .seg.nrrd (a Slicer segmentation)")
    findings = Path(args.findings) if args.findings else findings_path_for(args.output)
    extra = args.heatmap if args.method == "iexplain" else args.probability
    if args.method == "iexplain" and args.probability:
        raise InputError("--probability belongs to --method segmenter; use --heatmap with iexplain")
    if args.method == "segmenter" and args.heatmap:
        raise InputError("--heatmap belongs to --method iexplain; use --probability with the segmenter")
    for path in filter(None, (args.output, extra, findings)):
        check_can_write(path, args.overwrite)
    progress = progress_from(args)
    if args.method == "iexplain":
        model = _classifier_path(args)
        params = explain_params_from(args, model)
    else:
        params = explain_params_from(args)
        if not args.segmenter:
            raise InputError("--method segmenter needs --segmenter MODEL")
        model = existing_path(args.segmenter, "segmenter model")

    from ..io import read_volume

    from ..io.ct_check import require_ct_hounsfield

    progress("read", 0.0, f"reading {ct}")
    volume = read_volume(ct)
    require_ct_hounsfield(volume, str(ct))
    if args.method == "iexplain":
        from ..explain.detection import detect_iexplain, findings_document
        from ..io import iteration_segments, write_heatmap, write_segmentation

        detection = detect_iexplain(volume, model, params, args.device, progress)
        write_segmentation(args.output, detection.labelmap, iteration_segments(detection.iterations),
                           args.overwrite)
        if args.heatmap:
            write_heatmap(args.heatmap, detection.heat, args.overwrite)
        document = findings_document(detection, Path(ct).resolve(), "iexplain", model, params)
    else:
        detection, document = _detect_segmenter(volume, model, params, args, progress)
    write_text_atomic(findings, json.dumps(document, indent=2) + "\n", args.overwrite)
    progress.done(f"{len(detection.findings)} finding(s) in {detection.iterations} iteration(s) -> {args.output}",
                  findings=len(detection.findings), iterations=detection.iterations)
    return 0


def _detect_segmenter(volume, model, params, args, progress):
    import numpy as np

    from ..explain.detection import Detection, describe_study_findings, findings_document
    from ..io import SegmentInfo, distinct_color, write_heatmap, write_segmentation
    from ..segmenter.inference import detect_with_segmenter

    mask, probability = detect_with_segmenter(volume, model, device=args.device, progress=progress,
                                              min_voxels=params.min_cluster_voxels,
                                              filters=params)
    labelmap = volume.with_array((np.asarray(mask) > 0).astype(np.uint8))
    write_segmentation(args.output, labelmap, [SegmentInfo("PE (segmenter)", 1, distinct_color(0))], args.overwrite)
    if args.probability:
        write_heatmap(args.probability, volume.with_array(np.asarray(probability, dtype=np.float32)),
                      args.overwrite)
    rows = describe_study_findings(labelmap.array, volume, probability)
    for row in rows:
        row["peak_probability"] = row.pop("peak_attribution")
    detection = Detection(labelmap, None, int(labelmap.array.max(initial=0)), rows,
                          {"voxels": int(labelmap.array.sum())})
    return detection, findings_document(detection, Path(args.ct).resolve(), "segmenter", model, None)


def run_pseudo_label(args) -> int:
    from ..explain.pseudo_label import parse_shard, pseudo_label_dataset

    dataset = existing_path(args.dataset, "dataset")
    shard = parse_shard(args.shard)
    device = args.device
    if args.shard is None and "LOCAL_RANK" in os.environ and device == "auto":
        import torch

        if torch.cuda.is_available():  # torchrun: one GPU per process
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    progress = progress_from(args)
    classifier = _classifier_path(args)
    report = pseudo_label_dataset(dataset, args.output, classifier, explain_params_from(args, classifier), shard,
                                  device, args.overwrite, progress)
    message = (f"shard {shard[0]}/{shard[1]}: {len(report.done)} labelled, {len(report.skipped)} already done, "
               f"{len(report.failed)} failed -> {args.output}")
    if report.failed:
        first_id, first_error = next(iter(report.failed.items()))
        raise InputError(f"{message}; {len(report.failed)} case(s) failed, first {first_id}: {first_error}")
    progress.done(message, labelled=len(report.done), skipped=len(report.skipped))
    return 0
