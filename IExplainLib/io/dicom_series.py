"""Reading one CT series from DICOM into a :class:`Volume`.

Slices are ordered by their position along the slice normal (ImagePositionPatient projected on the cross product of
the ImageOrientationPatient vectors), never by InstanceNumber. Values become HU through RescaleSlope/Intercept.
Each awkward case is either read correctly or refused in one line that names the problem (see docs/io.md):

* localizers, SEG, SR and other non-CT objects in the folder: left out, counted in ``metadata["warnings"]``;
* other orientations in the same series: the largest group is kept, the rest left out with a warning;
* coronal/sagittal (non-axial) series: refused, IExplain works on axial slices;
* gantry tilt: corrected by shifting each slice in-plane onto a rectilinear grid (linear interpolation), warned;
* irregular spacing (missing slices, variable spacing) and duplicate positions: refused;
* several series: refused with the list of series, unless ``series_uid`` picks one;
* Enhanced (multi-frame) CT: read frame by frame from the functional groups;
* no PixelSpacing, no pixel data, an undecodable transfer syntax: refused.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import InputError, UnsupportedInputError
from ..volume import Volume
from .dicom_files import refuse_truncated, scan_dicom
from .dicom_frames import Frame, decode_pixels, frames_of

# Two slices closer than this along the normal are "the same position" (duplicates or several phases).
DUPLICATE_POSITION_MM = 1e-3
# Gaps may differ from the median by this fraction before the series counts as irregularly spaced.
SPACING_TOLERANCE = 0.02
# An in-plane drift of the slice origins smaller than this fraction of a pixel is rounding, not gantry tilt.
TILT_TOLERANCE_PIXELS = 0.05
# A slice normal further than 45 degrees from the head-feet axis is not an axial acquisition.
AXIAL_MIN_COSINE = np.cos(np.radians(45.0))


def read_dicom_series(path: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read the CT series in a folder (searched recursively) or a single DICOM file (that object only)."""
    frames, positions, spacing_z, warnings_out = stack_frames(path, series_uid)
    array = _hounsfield_stack(frames, warnings_out)
    array, resampled = _correct_gantry_tilt(frames, positions, array, warnings_out)
    first = frames[0]
    direction = np.column_stack([first.row_direction, first.column_direction, first.normal])
    # The tilt correction moves every slice onto the first one's in-plane grid, so the origin stays the same.
    return Volume(array, (*first.pixel_spacing, spacing_z), tuple(first.position), direction,
                  _metadata(frames, positions, warnings_out, resampled))


def stack_frames(path: str | os.PathLike, series_uid: str | None = None
                 ) -> tuple[list[Frame], np.ndarray, float, list[str]]:
    """The header half of :func:`read_dicom_series`: accepted frames in slice order, their positions along the
    normal, the slice spacing and the warnings; no pixel data is decoded (fast, for label alignment)."""
    path = Path(path)
    scan = scan_dicom(path)
    warnings_out: list[str] = []
    if scan.excluded:
        warnings_out.append(f"left out {scan.exclusion_summary()}")
    warnings_out.extend(dict.fromkeys(scan.messages))
    if series_uid is not None:  # a cut file of the asked-for series: say so, not "series not found"
        refuse_truncated(scan, series_uid, warnings_out)
    datasets = _pick_series(path, scan.datasets, series_uid)
    if series_uid is None:
        refuse_truncated(scan, str(datasets[0][1].get("SeriesInstanceUID", "")), warnings_out)
    frames = [frame for file, dataset in datasets for frame in frames_of(file, dataset)]
    frames = _largest_orientation_group(path, frames, warnings_out)
    _require_axial(path, frames[0])
    frames, positions = _sorted_by_position(path, frames)
    spacing_z = _slice_spacing(path, frames, positions, warnings_out)
    return frames, positions, spacing_z, warnings_out


def _pick_series(path: Path, datasets, series_uid: str | None):
    by_series = defaultdict(list)
    for file, dataset in datasets:
        by_series[str(dataset.get("SeriesInstanceUID", ""))].append((file, dataset))
    if series_uid is not None:
        if series_uid not in by_series:
            raise InputError(f"series {series_uid} not found in {path} (found: {', '.join(sorted(by_series))})")
        return by_series[series_uid]
    if len(by_series) > 1:
        listing = "; ".join(f"{uid} ({len(items)} images, '{items[0][1].get('SeriesDescription', '')}')"
                            for uid, items in sorted(by_series.items(), key=lambda kv: -len(kv[1])))
        raise UnsupportedInputError(f"{path} holds {len(by_series)} CT series; give one series folder or "
                                    f"series_uid: {listing}")
    return next(iter(by_series.values()))


def _orientation_key(frame: Frame):
    return np.concatenate([frame.row_direction, frame.column_direction]), frame.shape


def _largest_orientation_group(path: Path, frames: list[Frame], warnings_out: list[str]) -> list[Frame]:
    groups: list[list[Frame]] = []
    for frame in frames:
        cosines, shape = _orientation_key(frame)
        for group in groups:
            group_cosines, group_shape = _orientation_key(group[0])
            if shape == group_shape and np.allclose(cosines, group_cosines, atol=1e-3):
                group.append(frame)
                break
        else:
            groups.append([frame])
    groups.sort(key=len, reverse=True)
    if len(groups) > 1:
        if len(groups[0]) == len(groups[1]):
            raise UnsupportedInputError(f"{path}: images with {len(groups)} different orientations/sizes and no "
                                        "majority; give a folder holding one series")
        warnings_out.append(f"left out {len(frames) - len(groups[0])} image(s) with another orientation or size")
    kept = groups[0]
    spacings = {frame.pixel_spacing for frame in kept}
    if len(spacings) > 1 and not np.allclose(list(spacings), list(spacings)[0], rtol=1e-4):
        raise UnsupportedInputError(f"{path}: slices with different PixelSpacing {sorted(spacings)}")
    return kept


def _require_axial(path: Path, frame: Frame) -> None:
    normal = frame.normal
    if abs(normal[2]) >= AXIAL_MIN_COSINE:
        return
    plane = "sagittal" if abs(normal[0]) >= abs(normal[1]) else "coronal"
    cosines = np.round(np.concatenate([frame.row_direction, frame.column_direction]), 3).tolist()
    raise UnsupportedInputError(f"{path}: {plane} images (ImageOrientationPatient {cosines}); "
                                "IExplain needs axial CT slices")


def _sorted_by_position(path: Path, frames: list[Frame]) -> tuple[list[Frame], np.ndarray]:
    normal = frames[0].normal
    distances = np.array([frame.position @ normal for frame in frames])
    order = np.argsort(distances, kind="stable")
    frames, distances = [frames[i] for i in order], distances[order]
    duplicates = int(np.sum(np.diff(distances) < DUPLICATE_POSITION_MM))
    if duplicates:
        raise UnsupportedInputError(f"{path}: {duplicates + 1} images share a slice position (duplicate files, or "
                                    "several phases/acquisitions in one series); give one acquisition")
    return frames, distances


def _slice_spacing(path: Path, frames: list[Frame], distances: np.ndarray, warnings_out: list[str]) -> float:
    if len(frames) == 1:
        dataset = frames[0].dataset
        between = dataset.get("SpacingBetweenSlices")
        spacing = abs(float(between)) if between not in (None, "") and float(between) != 0 else frames[0].thickness
        if spacing is None:
            spacing = 1.0
        warnings_out.append(f"single slice: slice spacing set to {spacing:g} mm "
                            f"(from {'SpacingBetweenSlices' if between else 'SliceThickness' if frames[0].thickness else 'a default'})")
        return float(spacing)
    gaps = np.diff(distances)
    median = float(np.median(gaps))
    if np.max(np.abs(gaps - median)) > SPACING_TOLERANCE * median + 1e-4:
        raise UnsupportedInputError(
            f"{path}: irregular slice spacing ({gaps.min():.3g} to {gaps.max():.3g} mm between {len(frames)} slices: "
            "missing slices or a variable-spacing acquisition); refused rather than interpolated")
    # The mean gap over the whole stack is what makes the last slice land where DICOM says it is.
    return float((distances[-1] - distances[0]) / (len(frames) - 1))


def _hounsfield_stack(frames: list[Frame], warnings_out: list[str]) -> np.ndarray:
    decoded: dict[int, np.ndarray] = {}
    messages: set[str] = set()
    slices = []
    for frame in frames:
        key = id(frame.dataset)
        if key not in decoded:
            decoded[key] = decode_pixels(frame.dataset, frame.path, messages)
        pixels = decoded[key]
        slices.append(pixels[frame.frame_index] if frame.frame_index is not None else pixels)
    shapes = {s.shape for s in slices}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise UnsupportedInputError(f"{frames[0].path}: decoded pixel arrays have shapes {sorted(shapes)}, "
                                    "expected one 2D shape")
    stored = np.stack(slices)
    slopes = np.array([frame.slope for frame in frames])
    intercepts = np.array([frame.intercept for frame in frames])
    integral = np.all(slopes == 1.0) and np.all(intercepts == np.round(intercepts))
    if integral:
        values = stored.astype(np.int32) + intercepts.astype(np.int32)[:, None, None]
        low, high = int(values.min()), int(values.max())
        array = values.astype(np.int16) if -32768 <= low and high <= 32767 else values
    else:
        array = (stored.astype(np.float64) * slopes[:, None, None] + intercepts[:, None, None]).astype(np.float32)
    rescale_types = {frame.rescale_type.strip().upper() for frame in frames}
    # Vendors spell Hounsfield freely ("HOUNDSFIELD UNIT"); only an explicit other unit ("US") deserves a warning.
    if any(kind and kind != "HU" and not kind.startswith("HOUN") for kind in rescale_types):
        warnings_out.append(f"RescaleType {'/'.join(sorted(rescale_types))}: values may not be Hounsfield units")
    warnings_out.extend(sorted(messages))
    return array


def _correct_gantry_tilt(frames, distances, array, warnings_out) -> tuple[np.ndarray, str | None]:
    """Shift each slice in its own plane so the stack becomes rectilinear (what dcm2niix and Slicer do).

    With gantry tilt the slice origins drift along the column direction from slice to slice; the planes themselves
    are still perpendicular to the normal, so a per-slice 2D shift is the exact correction up to interpolation.
    """
    first = frames[0]
    offsets = np.array([frame.position - first.position for frame in frames])
    in_plane = offsets - np.outer(offsets @ first.normal, first.normal)
    shift_x = in_plane @ first.row_direction / first.pixel_spacing[0]
    shift_y = in_plane @ first.column_direction / first.pixel_spacing[1]
    if max(np.abs(shift_x).max(), np.abs(shift_y).max()) <= TILT_TOLERANCE_PIXELS:
        return array, None
    from scipy import ndimage

    along = distances[-1] - distances[0]
    angle = np.degrees(np.arctan2(np.linalg.norm(in_plane[-1]), along))
    corrected = np.empty(array.shape, dtype=np.float32)
    for index, (dx, dy) in enumerate(zip(shift_x, shift_y)):
        fill = float(array[index].min())
        corrected[index] = ndimage.shift(array[index].astype(np.float32), (dy, dx), order=1, mode="constant",
                                         cval=fill)
    warnings_out.append(f"gantry tilt {angle:.1f} deg: slices shifted in-plane by up to "
                        f"{np.linalg.norm(in_plane, axis=1).max():.1f} mm (linear interpolation) onto a "
                        "rectilinear grid")
    return corrected, f"gantry tilt {angle:.1f} deg corrected"


def _metadata(frames: list[Frame], distances: np.ndarray, warnings_out: list[str], resampled: str | None) -> dict:
    first = frames[0].dataset
    files = list(dict.fromkeys(str(frame.path) for frame in frames))
    syntaxes = sorted({str(frame.dataset.file_meta.get("TransferSyntaxUID", "")) for frame in frames
                       if hasattr(frame.dataset, "file_meta")})
    return {
        "source_format": "dicom",
        "study_instance_uid": str(first.get("StudyInstanceUID", "")),
        "series_instance_uid": str(first.get("SeriesInstanceUID", "")),
        "sop_instance_uids": [frame.sop_instance_uid for frame in frames],
        "frame_numbers": [None if frame.frame_index is None else frame.frame_index + 1 for frame in frames],
        "source_files": files,
        "slice_positions_mm": [float(d) for d in distances],
        "transfer_syntaxes": syntaxes,
        "modality": str(first.get("Modality", "")),
        "series_description": str(first.get("SeriesDescription", "")),
        "resampled": resampled,
        "warnings": warnings_out,
    }
