"""``iexplain detect`` (one study -> PE segmentation) and ``iexplain pseudo-label`` (Stage 2 over a dataset): they
parse the flags and call the library's study step (``study_step.StudyStep``) and ``pseudo_label_dataset``. The
iExplain flags and their precedence are in ``cli/common.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..modelfile import bundled_model
from .common import (add_device, add_explain_flags, add_overwrite, add_progress, existing_path, explain_params_from,
                     model_path, preset_and_params, progress_from)

DEFAULT_CLASSIFIER = bundled_model("demo-classifier")
DEFAULT_SEGMENTER = bundled_model("demo-segmenter")
DEFAULT_REDUCER = bundled_model("demo-reducer")
MAP_FLAGS = {"iexplain": "heatmap", "segmenter": "probability", "candidates": "scores"}

def register(subparsers) -> None:
    detect = subparsers.add_parser(
        "detect", help="one CT in, PE segmentation out (iExplain or the trained segmenter)",
        description="Finds pulmonary emboli in one CT (DICOM folder, NIfTI, NRRD, MHA). --method iexplain writes one "
                    "segment per iteration ('PE iteration k') and the heat map; --method segmenter writes the "
                    "segmenter's mask and probability map. A findings table (OUT.findings.json) is written beside "
                    "the segmentation. Outputs are in the CT's exact geometry.")
    detect.add_argument("ct", help="CT: DICOM series folder or image file")
    detect.add_argument("-o", "--output", required=True, help="output segmentation (.seg.nrrd)")
    detect.add_argument("--method", choices=("iexplain", "segmenter", "candidates"), default="iexplain",
                        help="iexplain (default): the slice classifier (--classifier) explained by iExplain, one "
                             "segment per iteration; segmenter: the 3D DynUNet segmenter (--segmenter); "
                             "candidates: filling defects found from the CT, scored by the false-positive reducer "
                             "(--reducer), one segment per kept finding")
    detect.add_argument("--classifier", help="classifier model for --method iexplain (.safetensors + .json card; "
                                             f"default: the bundled {DEFAULT_CLASSIFIER.stem})")
    detect.add_argument("--segmenter", help="segmenter model for --method segmenter (default: the bundled "
                                            f"{DEFAULT_SEGMENTER.stem})")
    detect.add_argument("--reducer", help="false-positive reducer for --method candidates (default: the bundled "
                                          f"{DEFAULT_REDUCER.stem})")
    detect.add_argument("--score-threshold", type=float,
                        help="--method candidates: keep findings scoring at least this (default: the reducer card's)")
    detect.add_argument("--scores", help="--method candidates: also write every candidate's score (.nrrd)")
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
    pseudo.add_argument("--method", choices=("iexplain", "candidates"), default="iexplain",
                        help="iexplain (default): the classifier explained by iExplain; candidates: filling defects "
                             "from the CT kept by the false-positive reducer (--reducer)")
    pseudo.add_argument("--classifier", help="classifier model (default: bundled demo)")
    pseudo.add_argument("--reducer", help="reducer model for --method candidates (default: bundled demo-reducer)")
    pseudo.add_argument("--score-threshold", type=float,
                        help="--method candidates: keep candidates scoring at least this (default: the card's)")
    pseudo.add_argument("--shard", help="I/N: process cases I, I+N, ... (default: torchrun RANK/WORLD_SIZE or all)")
    pseudo.add_argument("--dicom-seg", action="store_true",
                        help="also write DIR/dicom-seg/<id>.dcm, a DICOM SEG on each case's source series (every case "
                             "must be a DICOM series)")
    add_explain_flags(pseudo)
    add_device(pseudo)
    pseudo.add_argument("--overwrite", action="store_true", help="recompute finished cases too")
    add_progress(pseudo)
    pseudo.set_defaults(func=run_pseudo_label)


def findings_path_for(output: str | Path) -> Path:
    output = Path(output)
    name = output.name
    for ending in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(ending):
            return output.with_name(name[: -len(ending)] + ".findings.json")
    return output.with_name(name + ".findings.json")


def run_detect(args) -> int:
    from ..study_step import StudyFiles, StudyStep

    ct = existing_path(args.ct, "CT")
    if not str(args.output).lower().endswith(".seg.nrrd"):
        raise InputError(f"output {args.output} must end with .seg.nrrd (a Slicer segmentation)")
    if args.dicom_seg and not str(args.dicom_seg).lower().endswith(".dcm"):
        raise InputError(f"--dicom-seg {args.dicom_seg} must end with .dcm (a DICOM SEG file)")
    for method, flag in MAP_FLAGS.items():
        if method != args.method and getattr(args, flag):
            raise InputError(f"--{flag} belongs to --method {method}; use --{MAP_FLAGS[args.method]} with "
                             f"{args.method}")
    if args.method != "candidates" and (args.reducer or args.score_threshold is not None):
        raise InputError("--reducer and --score-threshold belong to --method candidates")
    files = StudyFiles(Path(args.findings) if args.findings else findings_path_for(args.output),
                       segmentation=Path(args.output), heat=_optional_path(getattr(args, MAP_FLAGS[args.method])),
                       dicom_seg=_optional_path(args.dicom_seg))
    files.check_can_write(args.overwrite)
    model, params, preset = _method_model(args)
    progress = progress_from(args)
    step = StudyStep.for_method(args.method, model, params, preset, args.device, args.score_threshold,
                                args.overwrite, progress)
    result = step(ct, files)
    if progress.mode == "quiet":
        for warning in result.document["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    detection = result.detection
    progress.done(f"{len(detection.findings)} finding(s) in {detection.iterations} iteration(s) -> {args.output}",
                  findings=len(detection.findings), iterations=detection.iterations)
    return 0


def _optional_path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _method_model(args):
    """(model file, parameters, attribution preset) of ``args.method`` from the flags; the preset is iExplain's."""
    if args.method != "iexplain" and getattr(args, "explain_preset", None):
        raise InputError(f"--preset sets the iExplain attribution; it has no effect with --method {args.method}")
    if args.method == "iexplain":
        model = model_path(args.classifier, "classifier", "demo-classifier")
        preset, params = preset_and_params(args, model, args.device)
        return model, params, preset
    if args.method == "candidates":
        return model_path(args.reducer, "reducer", "demo-reducer"), None, None
    model = model_path(args.segmenter, "segmenter", "demo-segmenter")
    return model, explain_params_from(args, model), None  # the card's filter settings, then the flags


def run_pseudo_label(args) -> int:
    from ..explain.pseudo_label import parse_shard, pseudo_label_dataset

    dataset = existing_path(args.dataset, "dataset")
    if args.method == "candidates" and (args.classifier or getattr(args, "explain_preset", None)):
        raise InputError("--classifier and --preset belong to --method iexplain; candidates use --reducer")
    if args.method != "candidates" and (args.reducer or args.score_threshold is not None):
        raise InputError("--reducer and --score-threshold belong to --method candidates")
    model, params, preset = _method_model(args)
    progress = progress_from(args)
    report = pseudo_label_dataset(dataset, args.output, model, params, parse_shard(args.shard) if args.shard else None,
                                  args.device, args.overwrite, progress, dicom_seg=args.dicom_seg, preset=preset,
                                  method=args.method, score_threshold=args.score_threshold)
    rank, world = report.shard
    message = (f"shard {rank}/{world}: {len(report.done)} labelled, {len(report.skipped)} already done, "
               f"{len(report.failed)} failed -> {args.output}")
    if report.failed:
        first_id, first_error = next(iter(report.failed.items()))
        raise InputError(f"{message}; {len(report.failed)} case(s) failed, first {first_id}: {first_error}")
    progress.done(message, labelled=len(report.done), skipped=len(report.skipped))
    return 0
