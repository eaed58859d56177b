"""Listing the cases of a dataset, whatever its layout:

* ``dataset.json`` (phantoms, finetuning exports, pseudo-labels; see docs/architecture.md): images and optional voxel
  labels and per-slice label CSVs (``slice_index,pe_present``), paths relative to the dataset folder;
* RSPECT: ``<root>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (or under ``<root>/train/``) plus
  ``<root>/train.csv``; one case per series present on disk, slice labels in slice order.

Slice labels are loaded on first use (for RSPECT that means reading the series' DICOM headers).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import InputError, UnsupportedInputError
from .jsonfile import read_json

DATASET_FORMAT = "iexplain-dataset"


@dataclass
class Case:
    """One study: ``image`` (file or DICOM series folder), optional voxel ``label`` and slice labels."""

    id: str
    image: Path
    label: Path | None = None
    slice_labels_path: Path | None = None
    provenance: dict = field(default_factory=dict)
    layout: str = "dataset.json"
    exam_labels: dict = field(default_factory=dict)
    _rspect_table: dict | None = field(default=None, repr=False)
    _rspect_csv: Path | None = field(default=None, repr=False)

    @cached_property
    def slice_labels(self) -> np.ndarray | None:
        """0/1 per array z index, or None when the case has none."""
        if self.layout == "rspect":
            from .io.rspect import read_rspect_labels
            assert self._rspect_csv is not None  # _open_rspect sets it on every RSPECT case
            return read_rspect_labels(self._rspect_csv, self.image, self._rspect_table).slice_labels
        if self.slice_labels_path is None:
            return None
        return read_slice_label_csv(self.slice_labels_path)

    def load_image(self):
        from .io import read_volume
        return read_volume(self.image)

    def load_label(self):
        from .io import read_volume
        return None if self.label is None else read_volume(self.label)


class CaseList(list):
    """The cases, plus ``warnings`` about what was skipped while listing them."""

    def __init__(self, cases=(), warnings: list[str] | None = None, layout: str = ""):
        super().__init__(cases)
        self.warnings = warnings or []
        self.layout = layout


def read_slice_label_csv(path: Path) -> np.ndarray:
    """``slice_index,pe_present`` rows covering slices 0..n-1 exactly once -> uint8 array of length n."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"slice_index", "pe_present"} <= set(reader.fieldnames or []):
                raise InputError(f"{path}: slice label CSV needs columns slice_index,pe_present")
            pairs = [(int(row["slice_index"]), int(float(row["pe_present"]))) for row in reader]
    except FileNotFoundError as error:
        raise InputError(f"{path} not found") from error
    except ValueError as error:
        raise InputError(f"{path}: non-numeric slice label ({error})") from error
    indices = sorted(index for index, _ in pairs)
    if indices != list(range(len(pairs))):
        raise InputError(f"{path}: slice_index must cover 0..{len(pairs) - 1} once each")
    labels = np.zeros(len(pairs), dtype=np.uint8)
    for index, value in pairs:
        labels[index] = 1 if value else 0
    return labels


def open_dataset(root: str | os.PathLike) -> CaseList:
    """The cases of a ``dataset.json`` dataset or an RSPECT folder (``train.csv``); anything else is refused."""
    root = Path(root)
    if root.is_file() and root.name.endswith(".json"):
        return _open_dataset_json(root)
    if not root.is_dir():
        raise InputError(f"dataset {root} not found")
    if (root / "dataset.json").is_file():
        return _open_dataset_json(root / "dataset.json")
    if (root / "train.csv").is_file():
        return _open_rspect(root)
    raise UnsupportedInputError(f"{root}: not a dataset (expected dataset.json, or train.csv with RSPECT series "
                                "folders)")


def _open_dataset_json(path: Path) -> CaseList:
    document = read_json(path, "dataset manifest")
    if not isinstance(document, dict) or document.get("format") != DATASET_FORMAT:
        raise UnsupportedInputError(f"{path}: \"format\" must be \"{DATASET_FORMAT}\"")
    if document.get("version") != 1:
        raise UnsupportedInputError(f"{path}: unsupported dataset version {document.get('version')!r} (expected 1)")
    entries = document.get("cases")
    if not isinstance(entries, list):
        raise InputError(f"{path}: \"cases\" must be a list")
    folder = path.parent
    cases, seen = CaseList(layout="dataset.json"), set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("image"):
            raise InputError(f"{path}: case {index} needs \"id\" and \"image\"")
        case_id = str(entry["id"])
        if case_id in seen:
            raise InputError(f"{path}: case id {case_id} appears twice")
        seen.add(case_id)
        resolved = {key: _relative(folder, entry.get(key), path, case_id, key)
                    for key in ("image", "label", "slice_labels")}
        image = resolved["image"]
        assert image is not None  # "image" is not empty (checked above), so _relative resolved it
        cases.append(Case(case_id, image, resolved["label"], resolved["slice_labels"],
                          dict(entry.get("provenance") or {}), "dataset.json"))
    return cases


def _relative(folder: Path, value, manifest: Path, case_id: str, key: str) -> Path | None:
    if value in (None, ""):
        return None
    # Relative paths are relative to the dataset folder; absolute ones are allowed because a pseudo-label folder
    # points at the images of the dataset it was made from instead of copying them.
    resolved = folder / Path(value)
    if not resolved.exists():
        raise InputError(f"{manifest}: case {case_id} {key} {resolved} not found")
    return resolved


def _open_rspect(root: Path) -> CaseList:
    from .io.rspect import read_rspect_table

    csv_path = root / "train.csv"
    table = read_rspect_table(csv_path)
    image_root = root / "train" if (root / "train").is_dir() else root
    cases, missing = CaseList(layout="rspect"), 0
    for (study, series), rows in sorted(table.items()):
        folder = image_root / study / series
        if not folder.is_dir():
            missing += 1
            continue
        first = next(iter(rows.values()))
        exam = {key: value for key, value in first.items() if key != "pe_present_on_image"}
        cases.append(Case(study, folder, None, None, {"series_instance_uid": series}, "rspect", exam, table,
                          csv_path))
    if not cases:
        raise InputError(f"{root}: none of the {len(table)} series in train.csv has a folder "
                         f"<StudyInstanceUID>/<SeriesInstanceUID> under {image_root}")
    if missing:
        cases.warnings.append(f"{missing} of {len(table)} series in train.csv have no folder and were skipped")
    return cases
