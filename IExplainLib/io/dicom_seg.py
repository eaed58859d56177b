"""DICOM SEG output (highdicom) for results on a CT that came from DICOM: the SEG references the source series and
its images, so PACS viewers and Slicer's DICOM module overlay it on the original slices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError, UnsupportedInputError
from ..outputs import atomic_output
from ..volume import Volume
from .images import checked_path_and_volume
from .segmentation import SegmentInfo, distinct_color, integer_labels


def _code(triple):
    from highdicom.sr import CodedConcept

    scheme, value, meaning = triple
    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _source_datasets(labelmap: Volume, source) -> list:
    import pydicom

    if source is None:
        source = labelmap
    if not isinstance(source, Volume):
        from .images import read_volume
        source = read_volume(source)
    metadata = source.metadata
    if metadata.get("source_format") != "dicom":
        raise UnsupportedInputError("DICOM SEG needs a CT read from DICOM (pass source=the DICOM CT volume or folder)")
    if metadata.get("resampled"):
        raise UnsupportedInputError(f"DICOM SEG cannot reference a resampled CT ({metadata['resampled']})")
    if any(frame is not None for frame in metadata.get("frame_numbers", [])):
        raise UnsupportedInputError("DICOM SEG output for multi-frame (Enhanced CT) sources is not supported")
    if source is not labelmap and not source.same_grid(labelmap):
        raise InputError(f"the labelmap grid ({labelmap.describe()}) is not the CT's ({source.describe()})")
    by_uid = {}
    for file in metadata["source_files"]:
        dataset = pydicom.dcmread(file)
        by_uid[str(dataset.SOPInstanceUID)] = dataset
    try:
        return [by_uid[uid] for uid in metadata["sop_instance_uids"]]
    except KeyError as error:
        raise InputError(f"source image {error} of the CT is no longer in {metadata['source_files'][0]}") from error


def write_dicom_seg(path: str | os.PathLike, labelmap: Volume, segments: list[SegmentInfo] | None = None,
                    source: Volume | str | os.PathLike | None = None, overwrite: bool = False,
                    series_description: str = "IExplain PE segmentation") -> Path:
    """Write a binary DICOM SEG, one segment per :class:`SegmentInfo`, referencing the source CT series.

    ``source`` is the CT volume read from DICOM (or its folder); by default the labelmap's own metadata is used.
    Frames without any segment are omitted (the DICOM SEG convention).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    path, labelmap = checked_path_and_volume(path, labelmap)
    datasets = _source_datasets(labelmap, source)
    labels, present = integer_labels(labelmap.array)
    if segments is None:
        segments = [SegmentInfo(f"PE iteration {k}", k, distinct_color(k - 1)) for k in present]
    unknown = sorted(set(present) - {segment.label_value for segment in segments})
    if unknown:
        raise InputError(f"labelmap values {unknown} have no segment")
    if not segments:
        raise InputError("DICOM SEG needs at least one segment")
    # DICOM numbers segments 1..N; our label values may have gaps (an iteration that found nothing).
    numbered = np.zeros(labels.shape, dtype=np.uint16 if len(segments) > 255 else np.uint8)
    descriptions = []
    algorithm = hd.AlgorithmIdentificationSequence(name="IExplain", version=__version__,
                                                   family=codes.DCM.ArtificialIntelligence)
    for number, segment in enumerate(segments, start=1):
        numbered[labels == segment.label_value] = number
        terminology = segment.terminology or {}
        category = terminology.get("category") or ["SCT", "49755003", "Morphologically Altered Structure"]
        kind = terminology.get("type") or ["SCT", "55584005", "Embolus"]
        region = terminology.get("anatomicRegion")
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=segment.name[:64], segmented_property_category=_code(category),
            segmented_property_type=_code(kind), algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, anatomic_regions=[_code(region)] if region else None,
            display_color=hd.color.CIELabColor.from_rgb(*[round(255 * c) for c in segment.color])))
    if not numbered.any():
        raise InputError("the labelmap is empty; a DICOM SEG needs at least one segmented voxel")
    seg = hd.seg.Segmentation(
        source_images=datasets, pixel_array=numbered, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9001,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="IExplain",
        manufacturer_model_name="IExplain", software_versions=__version__, device_serial_number="0",
        series_description=series_description[:64])
    with atomic_output(path, overwrite) as temporary:
        seg.save_as(str(temporary))
    return path
