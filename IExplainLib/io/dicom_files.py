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
NO_PIXELS = "CT object(s) without pixel data"


@dataclass
class DicomScan:
    """Accepted CT datasets (pixel data not decoded yet) and a count of what was left out, by reason."""

    datasets: list[tuple[Path, pydicom.Dataset]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)
    not_dicom: int = 0
    messages: list[str] = field(default_factory=list)
    # (file, its SeriesInstanceUID, refusal): cut files and CT images without pixels, judged once the series is
    # chosen (see refuse_truncated)
    truncated: list[tuple[Path, str, str]] = field(default_factory=list)

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
        return NO_PIXELS
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


def truncation(dataset: pydicom.Dataset, messages: list[str]) -> str | None:
    """What is cut off when the file was cut short, else None.

    A cut file still parses: pydicom keeps the elements before the cut, gives the last one the bytes that are left,
    and only warns when the cut falls inside a sequence or encapsulated pixel data. Left alone, such a slice would
    be "without pixel data" and silently left out of its series, or fail later as "undecodable"."""
    cut = next((text.split(": ", 1)[-1] for text in messages if "End of file" in text or "EOF" in text), None)
    if cut is None and not len(dataset):
        cut = "no data set after its file meta information"
    elif cut is None:
        last = dataset.get_item(max(dataset.keys()))  # the element the file ends in (raw: not decoded yet)
        declared = getattr(last, "length", None)
        value = getattr(last, "value", None)
        if isinstance(value, bytes) and isinstance(declared, int) and declared != 0xFFFFFFFF and len(value) < declared:
            cut = f"element {last.tag} holds {len(value):,} of its {declared:,} bytes"
    return cut


def read_whole(path: Path) -> pydicom.Dataset:
    """One DICOM object read for its pixel data (a DICOM SEG, ...); a file that is not DICOM or is cut is refused."""
    messages: list[str] = []
    dataset = _read_header(path, messages)
    if dataset is None:
        raise InputError(f"{path}: not a readable DICOM file")
    cut = truncation(dataset, messages)
    if cut is not None:
        raise InputError(f"{path}: truncated DICOM file ({cut}); copy it again from its source")
    return dataset


def refuse_truncated(scan: DicomScan, series_uid: str | None, warnings_out: list[str]) -> None:
    """Refuse a cut file of the series being read (or of unknown series: the cut may have taken its UID); those of
    other series are only counted. A CT image without pixel data counts as cut: when a file breaks off between two
    elements, or inside the pixel data's own tag, pydicom sees a complete header and no image."""
    for _, uid, refusal in scan.truncated:
        if series_uid is None or not uid or uid == series_uid:
            raise InputError(refusal)
    if scan.truncated:
        warnings_out.append(f"left out {len(scan.truncated)} truncated file(s) of other series")


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
        # Only a would-be CT slice matters when cut (a cut one reads as "without pixel data"); other objects are
        # left out whole anyway.
        cut = truncation(dataset, messages) if reason in (None, NO_PIXELS) else None
        if cut is not None or reason == NO_PIXELS:
            refusal = (f"{file}: truncated DICOM file ({cut}); copy it again from its source" if cut else
                       f"{file}: CT image with no pixel data (a file cut short, or a header-only copy); "
                       "copy the complete file from its source")
            scan.truncated.append((file, str(dataset.get("SeriesInstanceUID", "") or ""), refusal))
            continue
        if reason:
            scan.excluded[reason] += 1
        else:
            scan.datasets.append((file, dataset))
            scan.messages.extend(messages)
    if not scan.datasets:
        refuse_truncated(scan, None, [])
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
