"""Slicer segmentation files (``.seg.nrrd``) and plain labelmaps.

A ``.seg.nrrd`` is written with slicerio (the PyPI reader/writer for Slicer's format) from a labelmap
:class:`Volume` plus one :class:`SegmentInfo` per label value. Each segment carries a name, a colour and a DICOM
terminology entry in Slicer's string form (``TerminologyEntry:<context>~<category>~<type>~<modifier>~<anatomic
context>~<region>~<region modifier>`` in ``SegmentN_Tags``), so Slicer shows it as an embolus in the pulmonary artery.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..outputs import atomic_output
from ..volume import Volume
from .images import checked_path_and_volume
from .integrity import check_image_file

# The DICOM master lists hold Embolus (SCT 55584005); Slicer's terminology selector finds it there.
# A model's output starts unreviewed ("notstarted"): the radiologist sets the review status.
EMBOLUS_TERMINOLOGY = {
    "contextName": "Segmentation category and type - DICOM master list",
    "category": ["SCT", "49755003", "Morphologically Altered Structure"],
    "type": ["SCT", "55584005", "Embolus"],
    "anatomicContextName": "Anatomic codes - DICOM master list",
    "anatomicRegion": ["SCT", "81040000", "Pulmonary artery"],
}


@dataclass
class SegmentInfo:
    """One named, coloured segment of a labelmap (``label_value`` > 0; colour as RGB in 0..1)."""

    name: str
    label_value: int
    color: tuple[float, float, float] = (0.9, 0.2, 0.2)
    terminology: dict = field(default_factory=lambda: {key: (list(value) if isinstance(value, list) else value)
                                                       for key, value in EMBOLUS_TERMINOLOGY.items()})
    segment_id: str | None = None

    def __post_init__(self):
        self.label_value = int(self.label_value)
        if self.label_value <= 0:
            raise ValueError(f"segment '{self.name}': label value must be positive, got {self.label_value}")
        color = tuple(float(c) for c in self.color)
        if len(color) != 3 or not all(0.0 <= c <= 1.0 for c in color):
            raise ValueError(f"segment '{self.name}': colour must be three values in 0..1, got {color}")
        self.color = (color[0], color[1], color[2])


def distinct_color(index: int) -> tuple[float, float, float]:
    """Well separated, saturated colours (golden-angle hue steps) starting from red."""
    hue = (index * 0.381966) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return (round(red, 4), round(green, 4), round(blue, 4))


def iteration_segments(count: int, name: str = "PE iteration {k}") -> list[SegmentInfo]:
    """The segments of an iExplain result: ``PE iteration k`` with label value k, k = 1..count."""
    return [SegmentInfo(name.format(k=k), k, distinct_color(k - 1)) for k in range(1, count + 1)]


def integer_labels(array: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The labelmap as a non-negative integer array and its non-zero values (bincount: fast on CT-sized grids)."""
    labels = np.asarray(array)
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.array_equal(labels, np.round(labels)):
            raise InputError("segmentation labelmap has non-integer values")
        labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise InputError("segmentation labelmap has negative values")
    counts = np.bincount(labels.ravel()) if labels.size else np.zeros(1, int)
    return labels, [int(v) for v in np.flatnonzero(counts) if v != 0]


def _label_dtype(max_label: int):
    return np.uint8 if max_label <= 255 else np.uint16


def write_segmentation(path: str | os.PathLike, labelmap: Volume, segments: list[SegmentInfo] | None = None,
                       overwrite: bool = False) -> Path:
    """Write a labelmap as a Slicer ``.seg.nrrd`` with one segment per :class:`SegmentInfo`, atomically.

    ``segments=None`` names every label value k present as ``PE iteration k``. Every non-zero label in the array must
    belong to a segment; segments whose label is absent are written empty (Slicer keeps them).
    """
    import slicerio

    path, labelmap = checked_path_and_volume(path, labelmap)
    if not str(path).lower().endswith(".seg.nrrd"):
        raise InputError(f"{path}: a Slicer segmentation file must end with .seg.nrrd")
    labels, present = integer_labels(labelmap.array)
    if segments is None:
        segments = [SegmentInfo(f"PE iteration {k}", k, distinct_color(k - 1)) for k in present]
    values = [segment.label_value for segment in segments]
    if len(set(values)) != len(values):
        raise InputError(f"two segments share a label value: {values}")
    unknown = sorted(set(present) - set(values))
    if unknown:
        raise InputError(f"labelmap values {unknown} have no segment")
    voxels = labels.astype(_label_dtype(max(values, default=1))).transpose(2, 1, 0)  # (z,y,x) -> (i,j,k)
    # every segment's extent in one pass: a candidates result can have hundreds of segments
    boxes = ndimage.find_objects(voxels.astype(np.int32, copy=False), max_label=max(values, default=0))
    records = []
    for index, segment in enumerate(segments):
        box = boxes[segment.label_value - 1] if 0 < segment.label_value <= len(boxes) else None
        extent = [0, -1, 0, -1, 0, -1]
        if box is not None:
            extent = [int(v) for axis in box for v in (axis.start, axis.stop - 1)]
        records.append({"id": segment.segment_id or f"Segment_{index + 1}", "name": segment.name,
                        "color": list(segment.color), "labelValue": segment.label_value, "layer": 0,
                        "extent": extent, "nameAutoGenerated": False, "colorAutoGenerated": False,
                        "terminology": segment.terminology, "status": "notstarted"})
    segmentation = {"voxels": voxels, "ijkToLPS": labelmap.ijk_to_lps(), "segments": records,
                    "containedRepresentationNames": ["Binary labelmap"], "masterRepresentation": "Binary labelmap",
                    "referenceImageExtentOffset": [0, 0, 0]}
    with atomic_output(path, overwrite) as temporary:
        slicerio.write_segmentation(str(temporary), segmentation)
    return path


def read_segmentation(path: str | os.PathLike) -> tuple[Volume, list[SegmentInfo]]:
    """Read a ``.seg.nrrd`` into a labelmap :class:`Volume` (z, y, x) and its segments.

    Overlapping segments (Slicer stores them in several layers) are flattened: the first segment listed wins a
    shared voxel, and label values are renumbered 1..N in segment order (noted in ``metadata["warnings"]``).
    """
    import slicerio

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found")
    check_image_file(path, ".nrrd")  # a cut .seg.nrrd: say so, rather than pass on the decoder's complaint
    try:
        segmentation = slicerio.read_segmentation(str(path))
    except Exception as error:  # slicerio/pynrrd raise several types for a malformed header
        raise InputError(f"{path}: not a readable Slicer segmentation ({type(error).__name__}: {error})") from error
    voxels = np.asarray(segmentation["voxels"])
    warnings_out = []
    infos = []
    records = segmentation.get("segments", [])
    if voxels.ndim == 4:
        flat = np.zeros(voxels.shape[1:], dtype=_label_dtype(len(records)))
        for new_value, record in reversed(list(enumerate(records, start=1))):
            flat[voxels[record.get("layer", 0)] == record["labelValue"]] = new_value
        warnings_out.append(f"{voxels.shape[0]} overlapping layers flattened; label values renumbered 1..N")
        voxels = flat
        values = list(range(1, len(records) + 1))
    else:
        values = [int(record["labelValue"]) for record in records]
    for record, value in zip(records, values):
        infos.append(SegmentInfo(record.get("name", f"Segment {value}"), value,
                                 tuple(record.get("color", (0.5, 0.5, 0.5))),
                                 record.get("terminology") or {}, record.get("id")))
    volume = Volume.from_ijk_to_ras(voxels.transpose(2, 1, 0), np.diag([-1.0, -1.0, 1.0, 1.0]) @
                                    np.asarray(segmentation["ijkToLPS"], dtype=float),
                                    {"source_format": "seg.nrrd", "warnings": warnings_out,
                                     "source_files": [str(path)]})
    return volume, infos


def write_labelmap(path: str | os.PathLike, labelmap: Volume, overwrite: bool = False) -> Path:
    """A labelmap as an integer image (NIfTI ``.nii.gz`` typically; NRRD/MHA also work), atomically."""
    from .images import write_volume

    path, labelmap = checked_path_and_volume(path, labelmap)
    labels = np.asarray(labelmap.array)
    if labels.size and (labels.min() < 0 or not np.array_equal(labels, np.round(labels))):
        raise InputError("a labelmap needs non-negative integer values")
    labels = labels.astype(_label_dtype(int(labels.max()) if labels.size else 0))
    return write_volume(path, labelmap.with_array(labels, **labelmap.metadata), overwrite)
