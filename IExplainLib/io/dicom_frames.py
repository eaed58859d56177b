"""One :class:`Frame` per 2D image plane, whether it comes from a classic one-slice-per-file CT or from a
multi-frame (Enhanced CT) object, so that the stacking code sees a single kind of thing."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from ..errors import InputError, UnsupportedInputError


@dataclass
class Frame:
    path: Path
    dataset: pydicom.Dataset
    frame_index: int | None          # None for a single-frame object
    position: np.ndarray             # ImagePositionPatient, LPS mm, centre of the first pixel
    row_direction: np.ndarray        # world direction of increasing column index (x, i)
    column_direction: np.ndarray     # world direction of increasing row index (y, j)
    pixel_spacing: tuple[float, float]  # (x, y) = (between columns, between rows)
    slope: float
    intercept: float
    rescale_type: str
    thickness: float | None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.dataset.Rows), int(self.dataset.Columns)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_direction, self.column_direction)

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.get("SOPInstanceUID", ""))


def _float_list(value, count: int, what: str, path: Path) -> np.ndarray:
    try:
        values = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: {what} is not numeric ({value!r})") from error
    if values.size != count or not np.all(np.isfinite(values)):
        raise InputError(f"{path}: {what} needs {count} finite numbers, got {value!r}")
    return values


def _orientation(value, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if value is None:
        raise UnsupportedInputError(f"{path}: no ImageOrientationPatient, so the slice geometry is unknown")
    cosines = _float_list(value, 6, "ImageOrientationPatient", path)
    row, column = cosines[:3], cosines[3:]
    if min(np.linalg.norm(row), np.linalg.norm(column)) < 1e-3:
        raise InputError(f"{path}: ImageOrientationPatient has a zero vector ({value!r})")
    row, column = row / np.linalg.norm(row), column / np.linalg.norm(column)
    if abs(float(row @ column)) > 1e-3:
        raise UnsupportedInputError(f"{path}: ImageOrientationPatient rows and columns are not perpendicular")
    return row, column


def _pixel_spacing(group, dataset: pydicom.Dataset, path: Path) -> tuple[float, float]:
    value = group.get("PixelSpacing") if group is not None else None
    if value is None:
        value = dataset.get("PixelSpacing")
    if value is None:
        raise UnsupportedInputError(f"{path}: no PixelSpacing, so the pixel size in mm is unknown "
                                    "(refused rather than guessed: volumes and clot sizes would be wrong)")
    row_spacing, column_spacing = _float_list(value, 2, "PixelSpacing", path)
    if min(row_spacing, column_spacing) <= 0:
        raise InputError(f"{path}: PixelSpacing must be positive, got {value!r}")
    return float(column_spacing), float(row_spacing)


def _rescale(group, dataset: pydicom.Dataset) -> tuple[float, float, str]:
    source = group if group is not None and "RescaleSlope" in group else dataset
    slope = float(source.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(source.get("RescaleIntercept", 0.0) or 0.0)
    return slope, intercept, str(source.get("RescaleType", "HU") or "HU")


def _thickness(group, dataset) -> float | None:
    value = (group.get("SliceThickness") if group is not None else None) or dataset.get("SliceThickness")
    try:
        return float(value) if value not in (None, "") and float(value) > 0 else None
    except (TypeError, ValueError):
        return None


def _functional_item(dataset, frame_groups, sequence: str, index: int):
    """The item of a functional group for one frame: per-frame if present, else shared."""
    for groups in (frame_groups, dataset.get("SharedFunctionalGroupsSequence")):
        if groups:
            group = groups[index] if groups is frame_groups else groups[0]
            if sequence in group and len(group[sequence].value):
                return group[sequence][0]
    return None


def frames_of(path: Path, dataset: pydicom.Dataset) -> list[Frame]:
    """The image planes of one accepted CT object, with geometry and rescale read from the right place."""
    frame_count = int(dataset.get("NumberOfFrames", 1) or 1)
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if frame_count == 1 and per_frame is None:
        row, column = _orientation(dataset.get("ImageOrientationPatient"), path)
        position = dataset.get("ImagePositionPatient")
        if position is None:
            raise UnsupportedInputError(f"{path}: no ImagePositionPatient, so the slice position is unknown")
        return [Frame(path, dataset, None, _float_list(position, 3, "ImagePositionPatient", path), row, column,
                      _pixel_spacing(None, dataset, path), *_rescale(None, dataset), _thickness(None, dataset))]
    if per_frame is None or len(per_frame) != frame_count:
        raise UnsupportedInputError(f"{path}: multi-frame object without per-frame geometry "
                                    "(PerFrameFunctionalGroupsSequence), cannot place its frames")
    frames = []
    for index in range(frame_count):
        plane = _functional_item(dataset, per_frame, "PlanePositionSequence", index)
        orientation = _functional_item(dataset, per_frame, "PlaneOrientationSequence", index)
        measures = _functional_item(dataset, per_frame, "PixelMeasuresSequence", index)
        rescale = _functional_item(dataset, per_frame, "PixelValueTransformationSequence", index)
        if plane is None or "ImagePositionPatient" not in plane:
            raise UnsupportedInputError(f"{path}: frame {index + 1} has no ImagePositionPatient")
        row, column = _orientation(orientation.get("ImageOrientationPatient") if orientation else None, path)
        frames.append(Frame(path, dataset, index, _float_list(plane.ImagePositionPatient, 3, "ImagePositionPatient",
                                                              path), row, column,
                            _pixel_spacing(measures, dataset, path), *_rescale(rescale, dataset),
                            _thickness(measures, dataset)))
    return frames


def decode_pixels(dataset: pydicom.Dataset, path: Path, messages: set[str]) -> np.ndarray:
    """The stored pixel values, (frames, rows, columns) or (rows, columns); undecodable data is refused by name."""
    syntax = dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pixels = dataset.pixel_array
        except Exception as error:  # each decoder plugin raises its own type; all mean "cannot decode"
            name = f"{syntax} ({syntax.name})" if syntax is not None else "unknown transfer syntax"
            raise UnsupportedInputError(f"{path}: cannot decode transfer syntax {name}: "
                                        f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
                                        ) from error
    messages.update(f"{path.name}: {warning.message}" for warning in caught)
    if str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip() not in ("MONOCHROME1", "MONOCHROME2"):
        raise UnsupportedInputError(f"{path}: colour image ({dataset.PhotometricInterpretation}), not a CT slice")
    return pixels
