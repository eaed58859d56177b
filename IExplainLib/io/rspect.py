"""The RSNA-STR PE CT (RSPECT) label table: ``train.csv``, one row per image, keyed by the three UIDs.

``pe_present_on_image`` is the only per-image label; the other 13 are exam-level and repeat on every row. Labels are
returned in the volume's slice order (position along the slice normal), never in CSV or InstanceNumber order.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume

UID_COLUMNS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
SLICE_COLUMN = "pe_present_on_image"
EXAM_COLUMNS = ("negative_exam_for_pe", "qa_motion", "qa_contrast", "flow_artifact", "rv_lv_ratio_gte_1",
                "rv_lv_ratio_lt_1", "leftsided_pe", "chronic_pe", "true_filling_defect_not_pe", "rightsided_pe",
                "acute_and_chronic_pe", "central_pe", "indeterminate")
RSPECT_COLUMNS = UID_COLUMNS + (SLICE_COLUMN,) + EXAM_COLUMNS


@dataclass
class RspectLabels:
    """Labels of one series in slice order: ``slice_labels[k]`` belongs to array index z = k."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uids: list[str]
    slice_labels: np.ndarray
    exam_labels: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _as_int(value: str, column: str, path: Path, line: int) -> int:
    try:
        number = float(value)
    except ValueError as error:
        raise InputError(f"{path} line {line}: {column} is not a number ({value!r})") from error
    if number not in (0.0, 1.0):
        raise InputError(f"{path} line {line}: {column} must be 0 or 1, got {value!r}")
    return int(number)


def read_rspect_table(path: str | os.PathLike) -> dict[tuple[str, str], dict[str, dict]]:
    """``{(study, series): {sop: row}}`` with integer labels; refuses a table without the 17 RSPECT columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found")
    table: dict[tuple[str, str], dict[str, dict]] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in RSPECT_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: not an RSPECT train.csv, missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            labels = {column: _as_int(row[column], column, path, line) for column in (SLICE_COLUMN,) + EXAM_COLUMNS}
            study, series, sop = (row[column].strip() for column in UID_COLUMNS)
            table.setdefault((study, series), {})[sop] = labels
    return table


def labels_for_series(table, study_uid: str, series_uid: str, sop_uids: list[str], source: str = "train.csv"
                      ) -> RspectLabels:
    """Align one series' rows with its slices (given in slice order)."""
    rows = table.get((study_uid, series_uid))
    if rows is None:
        raise InputError(f"series {series_uid} of study {study_uid} has no rows in {source}")
    missing = [uid for uid in sop_uids if uid not in rows]
    if missing:
        raise InputError(f"{len(missing)} of {len(sop_uids)} slices of series {series_uid} have no row in {source} "
                         f"(first: {missing[0]})")
    warnings_out = []
    extra = len(set(rows) - set(sop_uids))
    if extra:
        warnings_out.append(f"{extra} rows of series {series_uid} in {source} match no slice that was read")
    slice_labels = np.array([rows[uid][SLICE_COLUMN] for uid in sop_uids], dtype=np.uint8)
    exam_labels = {column: rows[sop_uids[0]][column] for column in EXAM_COLUMNS}
    if any(rows[uid][column] != exam_labels[column] for uid in sop_uids for column in EXAM_COLUMNS):
        warnings_out.append(f"exam-level labels differ between rows of series {series_uid}; the first slice's are used")
    return RspectLabels(study_uid, series_uid, list(sop_uids), slice_labels, exam_labels, warnings_out)


def read_rspect_labels(csv_path: str | os.PathLike, series: Volume | str | os.PathLike,
                       table: dict | None = None) -> RspectLabels:
    """Per-slice labels for a DICOM volume (already read) or a series folder (headers only, no pixel decoding)."""
    if isinstance(series, Volume):
        metadata = series.metadata
        if metadata.get("source_format") != "dicom":
            raise InputError("RSPECT labels need a volume read from DICOM (its SOPInstanceUIDs key the table)")
        study, series_uid, sops = (metadata["study_instance_uid"], metadata["series_instance_uid"],
                                   metadata["sop_instance_uids"])
    else:
        from .dicom_series import stack_frames

        frames, _, _, _ = stack_frames(series)
        dataset = frames[0].dataset
        study, series_uid = str(dataset.StudyInstanceUID), str(dataset.SeriesInstanceUID)
        sops = [frame.sop_instance_uid for frame in frames]
    table = table if table is not None else read_rspect_table(csv_path)
    return labels_for_series(table, study, series_uid, sops, str(csv_path))
