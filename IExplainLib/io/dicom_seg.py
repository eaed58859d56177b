"""DICOM SEG output (highdicom) for results on a CT that came from DICOM: the SEG references the source series and
its images, so PACS viewers and Slicer's DICOM module overlay it on the original slices.

Sources as they come from the field are accepted: absent Type 2 attributes (PatientBirthDate, PatientSex,
AccessionNumber, ... often stripped by anonymisers) are written empty, and the slice spacing is the one IExplain
measured from ImagePositionPatient (positive, consistent with the frames), never a source's own SpacingBetweenSlices
(Philips writes it negative). Refused in one line: a CT not read from DICOM, a resampled one (gantry tilt
corrected) and Enhanced (multi-frame) CT.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError, UnsupportedInputError
from ..outputs import atomic_output
from ..volume import Volume
from .images import checked_path_and_volume
from .segmentation import SegmentInfo, distinct_color, integer_labels

# Patient and study attributes highdicom reads from the first source image (Type 2 in the SEG: may be empty).
_TYPE2_FROM_SOURCE = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                      "StudyDate", "StudyTime", "ReferringPhysicianName")
_PATIENT_SEX = ("M", "F", "O", "")


def _code(triple):
    from highdicom.sr import CodedConcept

    scheme, value, meaning = triple
    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def check_dicom_seg_source(source: Volume) -> None:
    """Refuse, in one line, a CT a DICOM SEG cannot reference: not from DICOM, resampled, or multi-frame.

    Cheap (metadata only): call it before long work so that the refusal comes first.
    """
    metadata = source.metadata
    if metadata.get("source_format") != "dicom":
        kind = metadata.get("source_format") or "not DICOM"
        raise UnsupportedInputError(f"DICOM SEG needs a CT read from a DICOM series; this one is {kind} "
                                    "(write .seg.nrrd instead, or start from the DICOM folder)")
    if metadata.get("resampled"):
        raise UnsupportedInputError(f"DICOM SEG cannot reference a resampled CT ({metadata['resampled']}): its "
                                    "voxels are not the source slices'")
    if any(frame is not None for frame in metadata.get("frame_numbers", [])):
        raise UnsupportedInputError("DICOM SEG output for multi-frame (Enhanced CT) sources is not supported")


def _complete(dataset, spacing_z: float):
    """Fill what highdicom reads from a source image but anonymised files may lack (in memory only)."""
    for keyword in _TYPE2_FROM_SOURCE:
        if keyword not in dataset:
            setattr(dataset, keyword, None)
    if str(dataset.PatientSex or "").upper() not in _PATIENT_SEX:  # e.g. "Male": not a DICOM value
        dataset.PatientSex = None
    if not dataset.get("SliceThickness"):
        dataset.SliceThickness = f"{spacing_z:.6g}"
    # highdicom copies the source's SpacingBetweenSlices into the SEG's Pixel Measures: give it the spacing measured
    # from the positions (positive, and the one the frames' ImagePositionPatient agree with).
    dataset.SpacingBetweenSlices = f"{spacing_z:.6g}"
    return dataset


def _source_datasets(labelmap: Volume, source) -> tuple[Volume, list]:
    import pydicom

    if source is None:
        source = labelmap
    if not isinstance(source, Volume):
        from .images import read_volume
        source = read_volume(source)
    check_dicom_seg_source(source)
    if source is not labelmap and not source.same_grid(labelmap):
        raise InputError(f"the labelmap grid ({labelmap.describe()}) is not the CT's ({source.describe()})")
    metadata = source.metadata
    by_uid = {}
    for file in metadata["source_files"]:
        try:
            dataset = pydicom.dcmread(file, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as error:
            raise InputError(f"source image {file} of the CT cannot be read again ({error})") from error
        by_uid[str(dataset.SOPInstanceUID)] = dataset
    try:
        datasets = [by_uid[uid] for uid in metadata["sop_instance_uids"]]
    except KeyError as error:
        raise InputError(f"source image {error} of the CT is no longer in {metadata['source_files'][0]}") from error
    if "FrameOfReferenceUID" not in datasets[0]:
        raise UnsupportedInputError("the source CT has no FrameOfReferenceUID: a DICOM SEG cannot be placed on it")
    return source, [_complete(dataset, source.spacing[2]) for dataset in datasets]


def _descriptions(segments: list[SegmentInfo]) -> list:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(name="IExplain", version=__version__,
                                                   family=codes.DCM.ArtificialIntelligence)
    descriptions = []
    for number, segment in enumerate(segments, start=1):
        terminology = segment.terminology or {}
        category = terminology.get("category") or ["SCT", "49755003", "Morphologically Altered Structure"]
        kind = terminology.get("type") or ["SCT", "55584005", "Embolus"]
        region = terminology.get("anatomicRegion")
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=segment.name[:64], segmented_property_category=_code(category),
            segmented_property_type=_code(kind), algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, anatomic_regions=[_code(region)] if region else None,
            display_color=hd.color.CIELabColor.from_rgb(*[round(255 * c) for c in segment.color])))
    return descriptions


def _named(label_values, name: str = "PE iteration {k}") -> list[SegmentInfo]:
    return [SegmentInfo(name.format(k=k), k, distinct_color(k - 1)) for k in label_values]


def seg_segments(segments: list[SegmentInfo]) -> list[SegmentInfo]:
    """The segments of a result's SEG: its own, or for a result with none (no iteration found anything) one empty
    segment "PE (none found)", so that a negative study still gets a SEG saying the algorithm ran."""
    return list(segments) or [SegmentInfo("PE (none found)", 1, distinct_color(0))]


def write_dicom_seg(path: str | os.PathLike, labelmap: Volume, segments: list[SegmentInfo] | None = None,
                    source: Volume | str | os.PathLike | None = None, overwrite: bool = False,
                    series_description: str = "IExplain PE segmentation") -> Path:
    """Write a binary DICOM SEG, one segment per :class:`SegmentInfo`, referencing the source CT series.

    ``source`` is the CT volume read from DICOM (or its folder); by default the labelmap's own metadata is used.
    Frames without any segment are omitted (the DICOM SEG convention); a segment may be empty (an iteration that
    found nothing after filtering). An empty labelmap needs its segments named (see :func:`seg_segments`); its SEG
    then holds every frame, all empty (a SEG cannot have no frame).
    """
    import highdicom as hd

    path, labelmap = checked_path_and_volume(path, labelmap)
    labels, present = integer_labels(labelmap.array)
    if segments is None:
        segments = _named(present)
    unknown = sorted(set(present) - {segment.label_value for segment in segments})
    if unknown:
        raise InputError(f"labelmap values {unknown} have no segment")
    if not segments:
        raise InputError("the labelmap is empty and no segment is named; a DICOM SEG needs at least one segment")
    source, datasets = _source_datasets(labelmap, source)
    # DICOM numbers segments 1..N; our label values may have gaps (an iteration that found nothing).
    numbered = np.zeros(labels.shape, dtype=np.uint16 if len(segments) > 255 else np.uint8)
    for number, segment in enumerate(segments, start=1):
        numbered[labels == segment.label_value] = number
    quiet = logging.getLogger("highdicom")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "encoding an empty image" is expected for a negative study
    try:
        seg = hd.seg.Segmentation(
            source_images=datasets, pixel_array=numbered, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=_descriptions(segments), series_instance_uid=hd.UID(), series_number=9001,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="IExplain",
            manufacturer_model_name="IExplain", software_versions=__version__, device_serial_number="0",
            series_description=series_description[:64])
    except ValueError as error:  # highdicom's verdict on a source it cannot use
        raise InputError(f"DICOM SEG cannot be made on this CT: {str(error).splitlines()[0]}") from error
    finally:
        quiet.setLevel(level)
    with atomic_output(path, overwrite) as temporary:
        seg.save_as(str(temporary))
    return path


def export_dicom_seg(segmentation: str | os.PathLike, reference_dicom: str | os.PathLike,
                     output: str | os.PathLike, overwrite: bool = False, series_uid: str | None = None) -> Path:
    """A saved result (``.seg.nrrd``, or a labelmap image) as a DICOM SEG on the DICOM CT it was made on.

    What ``iexplain convert SEG.seg.nrrd OUT.dcm --reference-dicom CT`` and the Slicer module's export call. The
    segmentation must lie on the CT's grid voxel for voxel (it does when IExplain made it from that CT).
    """
    from ..outputs import check_can_write
    from .images import read_volume
    from .segmentation import read_segmentation

    check_can_write(output, overwrite)
    reference = read_volume(reference_dicom, series_uid=series_uid)
    check_dicom_seg_source(reference)
    if str(segmentation).lower().endswith(".seg.nrrd"):
        labelmap, segments = read_segmentation(segmentation)
    else:
        labelmap = read_volume(segmentation)
        segments = _named(integer_labels(labelmap.array)[1], "PE label {k}")  # a labelmap names no segment
    if not labelmap.same_grid(reference, tolerance=1e-3):
        raise InputError(f"{segmentation} ({labelmap.describe()}) is not on the grid of the CT in {reference_dicom} "
                         f"({reference.describe()})")
    return write_dicom_seg(output, reference.with_array(labelmap.array), seg_segments(segments), reference, overwrite)
