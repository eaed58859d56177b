"""Finding the CT image objects in a DICOM folder, and saying why every other file was left out.

Only the header is judged here (no pixel decoding): SOP class, modality, image type and the presence of pixel data
and geometry. :mod:`.dicom_series` then stacks what is accepted.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from ..errors import InputError, UnsupportedInputError

CT_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image",
}
SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
# Vendors spell "scout" differently; any of these in ImageType marks a planning image, never part of a volume.
LOCALIZER_IMAGE_TYPES = {"LOCALIZER", "SCOUT", "SURVIEW", "REF_SURVIEW", "TOPOGRAM", "SCANOGRAM"}


@dataclass
class DicomScan:
    """Accepted CT datasets (pixel data not decoded yet) and a count of what was left out, by reason."""

    datasets: list[tuple[Path, pydicom.Dataset]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)
    not_dicom: int = 0
    messages: list[str] = field(default_factory=list)

    def exclusion_summary(self) -> str:
        parts = [f"{count} {reason}" for reason, count in sorted(self.excluded.items())]
        if self.not_dicom:
            parts.append(f"{self.not_dicom} non-DICOM file(s)")
        return ", ".join(parts)


def sop_class_of(dataset: pydicom.Dataset) -> str:
    """SOPClassUID, falling back on the file meta's MediaStorageSOPClassUID (some anonymisers blank the former)."""
    value = str(dataset.get("SOPClassUID", "") or "")
    if not value and hasattr(dataset, "file_meta"):
        value = str(dataset.file_meta.get("MediaStorageSOPClassUID", "") or "")
    return value


def exclusion_reason(dataset: pydicom.Dataset) -> str | None:
    """Why this object is not a CT image slice (None when it is one)."""
    sop_class = sop_class_of(dataset)
    modality = str(dataset.get("Modality", "") or "")
    image_type = {str(value).strip().upper() for value in (dataset.get("ImageType") or [])}
    has_pixels = "PixelData" in dataset or "FloatPixelData" in dataset
    if sop_class == DICOMDIR_SOP_CLASS:
        return "DICOMDIR index file(s)"
    if sop_class == SEGMENTATION_SOP_CLASS:
        return "DICOM SEG object(s) (a segmentation, not a CT image)"
    if image_type & LOCALIZER_IMAGE_TYPES:
        return "localizer/scout image(s)"
    if sop_class and sop_class not in CT_IMAGE_SOP_CLASSES:
        name = getattr(pydicom.uid.UID(sop_class), "name", sop_class)
        return f"non-CT-image object(s) ({name}{'' if has_pixels else ', no pixel data'})"
    if modality and modality != "CT":
        return f"non-CT image(s) (modality {modality})"
    if not has_pixels:
        return "CT object(s) without pixel data"
    return None


def _read_header(path: Path, messages: list[str]) -> pydicom.Dataset | None:
    try:
        with warnings.catch_warnings(record=True) as caught:  # pydicom's parser complaints go to the warnings list
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(path)
        messages.extend(f"{path.name}: {warning.message}" for warning in caught)
        return dataset
    except (InvalidDicomError, EOFError):
        return None
    except Exception as error:  # a truncated or corrupt file: name it rather than fail somewhere later
        raise InputError(f"{path} looks like DICOM but cannot be parsed: {type(error).__name__}: {error}") from error


def list_files(path: Path) -> list[Path]:
    """A file itself, or every file below a folder (sorted, hidden files skipped)."""
    if path.is_file():
        return [path]
    files: list[Path] = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        files.extend(Path(folder) / name for name in sorted(names) if not name.startswith("."))
    return files


def scan_dicom(path: str | os.PathLike) -> DicomScan:
    """Read every DICOM file at ``path`` (a file or a folder, recursively) and keep the CT image objects."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} not found")
    scan = DicomScan()
    for file in list_files(path):
        messages: list[str] = []
        dataset = _read_header(file, messages)
        if dataset is None:
            scan.not_dicom += 1
            continue
        reason = exclusion_reason(dataset)
        if reason:
            scan.excluded[reason] += 1
        else:
            scan.datasets.append((file, dataset))
            scan.messages.extend(messages)
    if not scan.datasets:
        raise _nothing_usable(path, scan)
    return scan


def _nothing_usable(path: Path, scan: DicomScan) -> InputError:
    if path.is_dir() and ((path / "index.json").is_file() or any(path.glob("*/index.json"))):
        return UnsupportedInputError(f"{path} is a vtk.js HttpDataSet (index.json), not a supported input format "
                                     "(use a DICOM series, NIfTI, NRRD or MHA)")
    if not scan.excluded:
        return InputError(f"no DICOM files in {path}" + (f" ({scan.not_dicom} other files)" if scan.not_dicom else ""))
    if len(scan.excluded) == 1 and next(iter(scan.excluded)).startswith("DICOM SEG"):
        return UnsupportedInputError(f"{path} is a DICOM SEG object (a segmentation), not a CT image")
    return UnsupportedInputError(f"no CT image in {path}: found only {scan.exclusion_summary()}")
