"""``iexplain detect`` (one study -> PE segmentation) and ``iexplain pseudo-label`` (Stage 2 over a dataset).

``add_explain_flags`` / ``explain_params_from`` hold every iExplain parameter, spelled the same in both commands.
Precedence: paper defaults, the classifier card's ``explain`` section, the attribution preset (``--preset``, else
chosen by the device), ``--params FILE.json``, then any per-parameter flag on top.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..modelfile import bundled_model
from ..errors import InputError
from .common import add_device, add_overwrite, add_progress, existing_path, progress_from

DEFAULT_CLASSIFIER = bundled_model("demo-classifier")
DEFAULT_SEGMENTER = bundled_model("demo-segmenter")

def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no", "true", "false", "1", "0", "on", "off"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() in ("yes", "true", "1", "on")


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
    "--defect-check": ("defect_check", _yes_no,
                       "filter: yes = keep only clot-density cores inside opacified lumen (beyond the paper)"),
    "--defect-search": ("defect_search_mm", float, "defect check: look for the clot cores up to this many mm around "
                                                   "each cluster and keep those touching it (0 = inside it only)"),
    "--batch-size": ("batch_size", int, "rows per attribution forward/backward pass (memory vs speed)"),
    "--seed": ("seed", int, "seed of random references and SmoothGrad noise"),
}


def _dest(flag: str) -> str:
    return "explain_" + flag.lstrip("-").replace("-", "_")


def add_explain_flags(parser) -> None:
    group = parser.add_argument_group("iExplain parameters (paper defaults; see docs/explain.md)")
    group.add_argument("--preset", dest="explain_preset", choices=("paper", "fast"), default=None,
                       help="attribution settings: paper (20 IG steps x 5 references x 3 SmoothGrad samples) or fast "
                            "(8 x 2 x 2, the demo's, about 9x less work); default: paper on CUDA, fast on CPU. "
                            "--params and the flags below override it")
    group.add_argument("--params", dest="explain_params_file", metavar="JSON",
                       help="ExplainParams JSON file; the flags below override it")
    for flag, (_, kind, text) in _PARAM_FLAGS.items():
        metavar = {int: "N", float: "X", str: "NAME", _yes_no: "yes|no"}.get(kind, "A,B,...")
        group.add_argument(flag, dest=_dest(flag), type=kind, default=None, metavar=metavar, help=text)
    group.add_argument("--no-filter", dest="explain_no_filter", action="store_true",
                       help="keep every cluster (no size / distance filter)")


def explain_params_from(args, classifier=None, preset: str | None = None):
    """ExplainParams: defaults, the classifier card's ``explain`` section, ``preset``, ``--params``, then flags."""
    from ..explain.params import params_for_model
    from ..modelfile import read_card

    changes = {field: getattr(args, _dest(flag), None) for flag, (field, _, _) in _PARAM_FLAGS.items()}
    if getattr(args, "explain_no_filter", False):
        changes["filter"] = False
    card = read_card(classifier) if classifier is not None else None
    return params_for_model(card, getattr(args, "explain_params_file", None), changes, preset)


def preset_and_params(args, classifier, device):
    """(PresetChoice, ExplainParams) of an iExplain run: ``--preset``, or the one ``device`` calls for."""
    from ..devices import resolve_device
    from ..explain.presets import choose_preset

    choice = choose_preset(getattr(args, "explain_preset", None),
                           resolve_device(device) if isinstance(device, str) else device)
    params = explain_params_from(args, classifier, choice.name)
    return choice.note_overrides(params), params


def register(subparsers) -> None:
    detect = subparsers.add_parser(
        "detect", help="one CT in, PE segmentation out (iExplain or the trained segmenter)",
        description="Finds pulmonary emboli in one CT (DICOM folder, NIfTI, NRRD, MHA). --method iexplain writes one "
                    "segment per iteration ('PE iteration k') and the heat map; --method segmenter writes the "
                    "segmenter's mask and probability map. A findings table (OUT.findings.json) is written beside "
                    "the segmentation. Outputs are in the CT's exact geometry.")
    detect.add_argument("ct", help="CT: DICOM series folder or image file")
    detect.add_argument("-o", "--output", required=True, help="output segmentation (.seg.nrrd)")
    detect.add_argument("--method", choices=("iexplain", "segmenter"), default="iexplain",
                        help="iexplain (default): the slice classifier (--classifier) explained by iExplain, one "
                             "segment per iteration; segmenter: the 3D DynUNet segmenter (--segmenter)")
    detect.add_argument("--classifier", help="classifier model for --method iexplain (.safetensors + .json card; "
                                             f"default: the bundled {DEFAULT_CLASSIFIER.stem})")
    detect.add_argument("--segmenter", help="segmenter model for --method segmenter (default: the bundled "
                                            f"{DEFAULT_SEGMENTER.stem})")
    detect.add_argument("--heatmap", help="also write the iExplain heat map (.nrrd) on the CT grid")
    detect.add_argument("--probability", help="also write the segmenter's probability map (.nrrd)")
    detect.add_argument("--findings", help="findings table (default: OUT with .findings.json)")
    detect.add_argument("--dicom-seg", metavar="SEG.dcm",
                        help="also write the result as a DICOM SEG referencing the source series (one segment per "
                             "iteration); the CT must be a single-frame DICOM series, not resampled")
    add_explain_flags(detect)
    add_device(detect)
    add_overwrite(detect)
    add_progress(detect)
    detect.set_defaults(func=run_detect)

    pseudo = subparsers.add_parser(
        "pseudo-label", help="Stage 2: iExplain pseudo-labels for every case of a dataset (resumable, sharded)",
        description="Runs iExplain on every case of a dataset (dataset.json or RSPECT layout) and writes "
                    "DIR/labels/<id>.nii.gz, segmentations/, heatmaps/, findings/ and DIR/dataset.json. Finished "
                    "cases are skipped on a rerun, and the temporary files a killed run left are removed. Split the "
                    "work with --shard I/N or torchrun (RANK/WORLD_SIZE).")
    pseudo.add_argument("dataset", help="dataset folder (dataset.json or RSPECT train.csv layout)")
    pseudo.add_argument("-o", "--output", required=True, help="output folder")
    pseudo.add_argument("--classifier", help="classifier model (default: bundled demo)")
    pseudo.add_argument("--shard", help="I/N: process cases I, I+N, ... (default: torchrun RANK/WORLD_SIZE or all)")
    pseudo.add_argument("--dicom-seg", action="store_true",
                        help="also write DIR/dicom-seg/<id>.dcm, a DICOM SEG on each case's source series (every case "
                             "must be a DICOM series)")
    add_explain_flags(pseudo)
    add_device(pseudo)
    pseudo.add_argument("--overwrite", action="store_true", help="recompute finished cases too")
    add_progress(pseudo)
    pseudo.set_defaults(func=run_pseudo_label)


def _model_path(given: str | None, default: Path, what: str, flag: str) -> Path:
    from ..modelfile import model_paths

    weights, _ = model_paths(Path(given) if given else default)
    if not weights.exists():
        hint = "" if given else f" (the bundled demo {what} is missing; pass {flag})"
        raise InputError(f"{what} {weights} not found{hint}")
    return weights


def _classifier_path(args) -> Path:
    return _model_path(args.classifier, DEFAULT_CLASSIFIER, "classifier", "--classifier")


def findings_path_for(output: str | Path) -> Path:
    output = Path(output)
    name = output.name
    for ending in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(ending):
            return output.with_name(name[: -len(ending)] + ".findings.json")
    return output.with_name(name + ".findings.json")


def run_detect(args) -> int:
    from ..io import check_dicom_seg_source, read_volume, write_dicom_seg
    from ..contrast_check import check_contrast
    from ..io.ct_check import require_ct_hounsfield
    from ..io.dicom_seg import seg_segments
    from ..outputs import check_can_write, write_text_atomic

    ct = existing_path(args.ct, "CT")
    if not str(args.output).lower().endswith(".seg.nrrd"):
        raise InputError(f"output {args.output} must end with .seg.nrrd (a Slicer segmentation)")
    if args.dicom_seg and not str(args.dicom_seg).lower().endswith(".dcm"):
        raise InputError(f"--dicom-seg {args.dicom_seg} must end with .dcm (a DICOM SEG file)")
    findings = Path(args.findings) if args.findings else findings_path_for(args.output)
    extra = args.heatmap if args.method == "iexplain" else args.probability
    if args.method == "iexplain" and args.probability:
        raise InputError("--probability belongs to --method segmenter; use --heatmap with iexplain")
    if args.method == "segmenter" and args.heatmap:
        raise InputError("--heatmap belongs to --method iexplain; use --probability with the segmenter")
    for path in filter(None, (args.output, extra, findings, args.dicom_seg)):
        check_can_write(path, args.overwrite)
    progress = progress_from(args)
    if args.method == "iexplain":
        model = _classifier_path(args)
        preset, params = preset_and_params(args, model, args.device)
    else:
        if getattr(args, "explain_preset", None):
            raise InputError("--preset sets the iExplain attribution; it has no effect with --method segmenter")
        model = _model_path(args.segmenter, DEFAULT_SEGMENTER, "segmenter", "--segmenter")
        preset, params = None, explain_params_from(args, model)  # the card's filter settings, then the flags

    progress("read", 0.0, f"reading {ct}")
    volume = read_volume(ct)
    require_ct_hounsfield(volume, str(ct))
    if args.dicom_seg:
        check_dicom_seg_source(volume)  # refuse before the long work, not after it
    contrast = check_contrast(volume)
    if contrast.warning():
        progress("warning", None, contrast.warning(), force=True)
        if progress.mode == "quiet":
            print(f"warning: {contrast.warning()}", file=sys.stderr)
    if args.method == "iexplain":
        detection, document, segments = _detect_iexplain(volume, model, params, preset, args, progress)
    else:
        detection, document, segments = _detect_segmenter(volume, model, params, args, progress)
    if args.dicom_seg:
        write_dicom_seg(args.dicom_seg, detection.labelmap, seg_segments(segments), volume, args.overwrite)
        document["dicom_seg"] = str(Path(args.dicom_seg).resolve())
    document["contrast"] = contrast.as_dict()
    document["warnings"] = [contrast.warning()] if contrast.warning() else []
    write_text_atomic(findings, json.dumps(document, indent=2) + "\n", args.overwrite)
    progress.done(f"{len(detection.findings)} finding(s) in {detection.iterations} iteration(s) -> {args.output}",
                  findings=len(detection.findings), iterations=detection.iterations)
    return 0


def _detect_iexplain(volume, model, params, preset, args, progress):
    from ..explain.detection import detect_iexplain, findings_document
    from ..io import iteration_segments, write_heatmap, write_segmentation

    progress("preset", None, preset.message(), force=True, preset=preset.name)
    detection = detect_iexplain(volume, model, params, args.device, progress)
    segments = iteration_segments(detection.iterations)
    write_segmentation(args.output, detection.labelmap, segments, args.overwrite)
    if args.heatmap:
        write_heatmap(args.heatmap, detection.heat, args.overwrite)
    document = findings_document(detection, Path(args.ct).resolve(), "iexplain", model, params)
    document["preset"] = preset.as_dict()
    return detection, document, segments


def _detect_segmenter(volume, model, params, args, progress):
    import numpy as np

    from ..explain.detection import Detection, describe_study_findings, findings_document
    from ..io import SegmentInfo, distinct_color, write_heatmap, write_segmentation
    from ..segmenter.inference import detect_with_segmenter

    mask, probability = detect_with_segmenter(volume, model, device=args.device, progress=progress,
                                              min_voxels=params.min_cluster_voxels,
                                              filters=params)
    labelmap = volume.with_array((np.asarray(mask) > 0).astype(np.uint8))
    segments = [SegmentInfo("PE (segmenter)", 1, distinct_color(0))]
    write_segmentation(args.output, labelmap, segments, args.overwrite)
    if args.probability:
        write_heatmap(args.probability, volume.with_array(np.asarray(probability, dtype=np.float32)),
                      args.overwrite)
    rows = describe_study_findings(labelmap.array, volume, probability)
    for row in rows:
        row["peak_probability"] = row.pop("peak_attribution")
    detection = Detection(labelmap, None, int(labelmap.array.max(initial=0)), rows,
                          {"voxels": int(labelmap.array.sum())})
    return detection, findings_document(detection, Path(args.ct).resolve(), "segmenter", model, None), segments


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
    preset, params = preset_and_params(args, classifier, device)
    progress("preset", None, preset.message(), force=True, preset=preset.name)
    report = pseudo_label_dataset(dataset, args.output, classifier, params, shard, device, args.overwrite, progress,
                                  dicom_seg=args.dicom_seg, preset=preset.as_dict())
    message = (f"shard {shard[0]}/{shard[1]}: {len(report.done)} labelled, {len(report.skipped)} already done, "
               f"{len(report.failed)} failed -> {args.output}")
    if report.failed:
        first_id, first_error = next(iter(report.failed.items()))
        raise InputError(f"{message}; {len(report.failed)} case(s) failed, first {first_id}: {first_error}")
    progress.done(message, labelled=len(report.done), skipped=len(report.skipped))
    return 0
