"""``iexplain info`` and ``iexplain convert``: look at a CT, turn any supported input into NRRD or NIfTI, and turn a
saved segmentation into a DICOM SEG on its DICOM CT."""

from __future__ import annotations

import argparse
import json

from .common import add_overwrite, existing_path


def register(subparsers) -> None:
    info = subparsers.add_parser(
        "info", help="geometry, slice count, HU range and warnings of a CT",
        description="Read a CT (DICOM series folder or file, NIfTI, NRRD, MHA) and print its geometry, slice count, "
                    "value range and any warnings (left-out localizers, gantry tilt correction, ...).")
    info.add_argument("ct", help="DICOM series folder or file, .nii/.nii.gz, .nrrd or .mha")
    info.add_argument("--series-uid", help="pick one series when the folder holds several")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(func=run_info)

    convert = subparsers.add_parser(
        "convert", help="convert a CT to NRRD or NIfTI, or a segmentation to DICOM SEG, keeping its geometry",
        description="Read any supported CT input and write it as .nrrd, .nii.gz/.nii or .mha with the same voxel "
                    "values, spacing, origin and direction. With an output ending in .dcm and --reference-dicom: "
                    "turn a segmentation (.seg.nrrd, or a labelmap image) made on that DICOM CT into a DICOM SEG "
                    "referencing its series, one segment per segment of the input.")
    convert.add_argument("input", help="DICOM series folder or file, .nii/.nii.gz, .nrrd or .mha; with .dcm output: "
                                       "the segmentation (.seg.nrrd or labelmap)")
    convert.add_argument("output", help="output file ending in .nrrd, .nii.gz, .nii or .mha, or .dcm (DICOM SEG)")
    convert.add_argument("--reference-dicom", metavar="CT_DIR",
                         help="the DICOM CT series the segmentation was made on (needed for, and only for, .dcm)")
    convert.add_argument("--series-uid", help="pick one series when the folder holds several")
    add_overwrite(convert)
    convert.set_defaults(func=run_convert)


def describe(volume) -> dict:
    """Everything ``info`` reports, as plain JSON-ready values."""
    import numpy as np

    array = volume.array
    metadata = volume.metadata
    summary = {
        "source_format": metadata.get("source_format", ""),
        "size_xyz": list(volume.size_xyz),
        "slices": int(volume.shape[0]),
        "spacing_mm": list(volume.spacing),
        "origin_lps_mm": list(volume.origin),
        "direction": np.round(volume.direction, 6).tolist(),
        "dtype": str(array.dtype),
        "min": float(array.min()) if array.size else None,
        "max": float(array.max()) if array.size else None,
        "extent_mm": [float(n * s) for n, s in zip(volume.size_xyz, volume.spacing)],
        "warnings": list(metadata.get("warnings", [])),
    }
    for key in ("study_instance_uid", "series_instance_uid", "series_description", "transfer_syntaxes", "resampled"):
        if metadata.get(key):
            summary[key] = metadata[key]
    return summary


def run_info(args: argparse.Namespace) -> int:
    from ..io import read_volume

    volume = read_volume(existing_path(args.ct, "CT"), series_uid=args.series_uid)
    summary = describe(volume)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{args.ct}: {summary['source_format']} CT")
    print(f"  {volume.describe()}")
    print(f"  slices: {summary['slices']}, extent {' x '.join(f'{e:.1f}' for e in summary['extent_mm'])} mm")
    print(f"  direction (columns i, j, k): {summary['direction']}")
    print(f"  values: {summary['min']:g} .. {summary['max']:g} ({summary['dtype']})")
    for key in ("series_instance_uid", "series_description", "resampled"):
        if key in summary:
            print(f"  {key.replace('_', ' ')}: {summary[key]}")
    for warning in summary["warnings"]:
        print(f"  warning: {warning}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..io import read_volume, write_volume
    from ..io.images import WRITE_SUFFIXES, image_suffix
    from ..errors import InputError, UnsupportedInputError
    from ..outputs import check_can_write

    if str(args.output).lower().endswith(".dcm"):
        return _convert_to_dicom_seg(args)
    if args.reference_dicom:
        raise InputError(f"--reference-dicom is for DICOM SEG output; {args.output} does not end in .dcm")
    if image_suffix(args.output) not in WRITE_SUFFIXES:
        raise UnsupportedInputError(f"{args.output}: output must end in {', '.join(WRITE_SUFFIXES)} "
                                    "(or .dcm for a DICOM SEG)")
    check_can_write(args.output, args.overwrite)  # refuse before spending time reading
    volume = read_volume(existing_path(args.input), series_uid=args.series_uid)
    write_volume(args.output, volume, overwrite=args.overwrite)
    print(f"wrote {args.output}: {volume.describe()}")
    for warning in volume.metadata.get("warnings", []):
        print(f"  warning: {warning}")
    return 0


def _convert_to_dicom_seg(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..io import export_dicom_seg

    if not args.reference_dicom:
        raise InputError(f"{args.output}: a DICOM SEG needs the CT it segments: add --reference-dicom CT_DIR")
    segmentation = existing_path(args.input, "segmentation")
    reference = existing_path(args.reference_dicom, "reference DICOM CT")
    path = export_dicom_seg(segmentation, reference, args.output, args.overwrite, args.series_uid)
    print(f"wrote {path}: DICOM SEG of {segmentation} on the series in {reference}")
    return 0
