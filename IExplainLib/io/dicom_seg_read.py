"""Reading a binary DICOM SEG back onto the grid of the CT it segments.

Each frame is placed by its own geometry (PlanePositionSequence / PlaneOrientationSequence), not by the SOP
Instance UIDs it references: the labelmap lands where the SEG says its frames are, so reading a SEG written by
:func:`write_dicom_seg` back on the CT checks the geometry end to end. Label value = segment number.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, UnsupportedInputError
from ..volume import Volume
from .dicom_files import read_whole
from .segmentation import EMBOLUS_TERMINOLOGY, SegmentInfo

# A frame must lie within this fraction of a voxel of a CT slice (and of its in-plane origin).
POSITION_TOLERANCE_VOXELS = 0.01


def _frame_item(frame, shared, keyword: str):
    for groups in (frame, shared):
        if groups is not None and keyword in groups:
            return groups[keyword][0]
    raise InputError(f"DICOM SEG frame has no {keyword}")


def _segments(dataset) -> list[SegmentInfo]:
    from highdicom.color import CIELabColor

    infos = []
    for item in dataset.SegmentSequence:
        color = (0.5, 0.5, 0.5)
        if "RecommendedDisplayCIELabValue" in item:
            red, green, blue = CIELabColor.from_dicom_value(item.RecommendedDisplayCIELabValue).to_rgb(clip=True)
            color = (round(red / 255, 4), round(green / 255, 4), round(blue / 255, 4))

        def triple(code):
            return [str(code.CodingSchemeDesignator), str(code.CodeValue), str(code.CodeMeaning)]

        terminology = dict(EMBOLUS_TERMINOLOGY)
        terminology["category"] = triple(item.SegmentedPropertyCategoryCodeSequence[0])
        terminology["type"] = triple(item.SegmentedPropertyTypeCodeSequence[0])
        if "AnatomicRegionSequence" in item:
            terminology["anatomicRegion"] = triple(item.AnatomicRegionSequence[0])
        infos.append(SegmentInfo(str(item.SegmentLabel), int(item.SegmentNumber), color, terminology))
    return infos


def read_dicom_seg(path: str | os.PathLike, reference: Volume) -> tuple[Volume, list[SegmentInfo]]:
    """A binary DICOM SEG as a labelmap on ``reference``'s grid (the CT volume) and its segments."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not a readable DICOM file (not found)")
    dataset = read_whole(path)  # a cut SEG would otherwise fail deep in pixel decoding
    if str(dataset.get("Modality", "")) != "SEG" or str(dataset.get("SegmentationType", "")) != "BINARY":
        raise UnsupportedInputError(f"{path}: not a binary DICOM SEG")
    pixels = dataset.pixel_array
    pixels = pixels[np.newaxis] if pixels.ndim == 2 else pixels
    if pixels.shape[1:] != reference.shape[1:]:
        raise InputError(f"{path}: frames of {pixels.shape[2]}x{pixels.shape[1]} pixels, the CT has "
                         f"{reference.shape[2]}x{reference.shape[1]}")
    shared = dataset.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in dataset else None
    to_index = np.linalg.inv(reference.ijk_to_lps())
    labels = np.zeros(reference.shape, dtype=np.uint16 if len(dataset.SegmentSequence) > 255 else np.uint8)
    for index, frame in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        orientation = np.array(_frame_item(frame, shared, "PlaneOrientationSequence").ImageOrientationPatient, float)
        if not np.allclose(orientation, reference.direction[:, :2].T.ravel(), atol=1e-4):
            raise InputError(f"{path}: frame {index + 1} is not in the CT's slice orientation")
        position = np.array(_frame_item(frame, shared, "PlanePositionSequence").ImagePositionPatient, float)
        i, j, k = (to_index @ np.append(position, 1.0))[:3]
        slice_index = int(round(k))
        if (max(abs(i), abs(j), abs(k - slice_index)) > POSITION_TOLERANCE_VOXELS
                or not 0 <= slice_index < reference.shape[0]):
            raise InputError(f"{path}: frame {index + 1} at {np.round(position, 3).tolist()} is not on a slice "
                             "of the CT")
        number = int(_frame_item(frame, shared, "SegmentIdentificationSequence").ReferencedSegmentNumber)
        target = labels[slice_index]
        target[(pixels[index] > 0) & (target == 0)] = number  # a voxel in two segments keeps the first frame's
    return reference.with_array(labels, source_format="dicom-seg", source_files=[str(path)]), _segments(dataset)
