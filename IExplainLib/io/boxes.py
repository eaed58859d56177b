"""RSPECT-augmented style 2D boxes: per-image rectangles (pixels) keyed by the three UIDs, from a CSV with
configurable column names or an MD.ai JSON export, rasterised into per-slice box masks on the volume's grid."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, UnsupportedInputError
from ..jsonfile import read_json
from ..volume import Volume

DEFAULT_BOX_COLUMNS = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID", "sop": "SOPInstanceUID",
                       "x": "x", "y": "y", "width": "width", "height": "height"}


@dataclass(frozen=True)
class Box:
    """A rectangle on one image: ``x`` = column, ``y`` = row of the top-left corner, in pixels."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    x: float
    y: float
    width: float
    height: float
    label: str = ""


def _number(value, what: str, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: {what} is not a number ({value!r})") from error
    if not math.isfinite(number):
        raise InputError(f"{where}: {what} is not finite ({value!r})")
    return number


def _box(study, series, sop, x, y, width, height, label, where: str) -> Box:
    values = [_number(v, name, where) for v, name in ((x, "x"), (y, "y"), (width, "width"), (height, "height"))]
    if values[2] <= 0 or values[3] <= 0:
        raise InputError(f"{where}: box width and height must be positive, got {values[2]} x {values[3]}")
    return Box(str(study).strip(), str(series).strip(), str(sop).strip(), values[0], values[1], values[2], values[3],
               str(label or ""))


def read_boxes_csv(path: str | os.PathLike, columns: dict[str, str] | None = None,
                   label_column: str | None = None) -> list[Box]:
    """Boxes from a CSV; ``columns`` maps study/series/sop/x/y/width/height to the file's column names."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found")
    names = {**DEFAULT_BOX_COLUMNS, **(columns or {})}
    boxes = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in names.values() if name not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing box column(s) {', '.join(missing)} (set them with columns=)")
        for line, row in enumerate(reader, start=2):
            study, series, sop, x, y, width, height = (row[names[key]] for key in
                                                       ("study", "series", "sop", "x", "y", "width", "height"))
            boxes.append(_box(study, series, sop, x, y, width, height,
                              row.get(label_column, "") if label_column else "", f"{path} line {line}"))
    return boxes


def read_boxes_mdai_json(path: str | os.PathLike) -> list[Box]:
    """Boxes from an MD.ai export: ``{"datasets": [{"annotations": [{UIDs, "data": {x, y, width, height},
    "labelId"}]}]}``; annotations without box data (image- or exam-level labels) are skipped."""
    path = Path(path)
    document = read_json(path, "MD.ai export")
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), list):
        raise UnsupportedInputError(f"{path}: not an MD.ai export (no \"datasets\" list)")
    boxes = []
    for dataset_index, dataset in enumerate(document["datasets"]):
        for index, annotation in enumerate(dataset.get("annotations") or []):
            data = annotation.get("data") or {}
            if not all(key in data for key in ("x", "y", "width", "height")):
                continue
            where = f"{path} datasets[{dataset_index}].annotations[{index}]"
            uids = [annotation.get(key) for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")]
            if not all(uids):
                raise InputError(f"{where}: a box needs StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID")
            boxes.append(_box(uids[0], uids[1], uids[2], data["x"], data["y"], data["width"], data["height"],
                              annotation.get("labelId", ""), where))
    return boxes


def boxes_to_mask(volume: Volume, boxes: list[Box]) -> np.ndarray:
    """A uint8 (z, y, x) mask, 1 inside every box of this volume's series (others are ignored).

    A box covers the pixels its rectangle touches: columns floor(x) .. ceil(x + width) - 1, clipped to the image.
    """
    metadata = volume.metadata
    if metadata.get("source_format") != "dicom":
        raise InputError("boxes need a volume read from DICOM (SOPInstanceUIDs place them on slices)")
    if metadata.get("resampled"):
        raise UnsupportedInputError(f"boxes cannot be placed on a resampled volume ({metadata['resampled']})")
    series = metadata["series_instance_uid"]
    slice_of: dict[str, list[int]] = {}
    for index, uid in enumerate(metadata["sop_instance_uids"]):
        slice_of.setdefault(uid, []).append(index)
    mask = np.zeros(volume.shape, dtype=np.uint8)
    _, rows, columns = volume.shape
    for box in boxes:
        if box.series_instance_uid != series:
            continue
        if box.sop_instance_uid not in slice_of:
            raise InputError(f"box on image {box.sop_instance_uid}, which is not a slice of series {series}")
        x0, y0 = max(0, math.floor(box.x)), max(0, math.floor(box.y))
        x1, y1 = min(columns, math.ceil(box.x + box.width)), min(rows, math.ceil(box.y + box.height))
        for index in slice_of[box.sop_instance_uid]:
            mask[index, y0:y1, x0:x1] = 1
    return mask
