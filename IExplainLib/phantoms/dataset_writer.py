"""Write phantom studies in the real data layouts, so the same readers serve synthetic and real data.

``rspect``: ``<out>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm``, ``train.csv`` (the 17 RSPECT columns, one row per image),
``boxes.csv`` (one 2D box per embolus per slice, keyed by the three UIDs), ``truth/<StudyUID>.nii.gz`` (instance
masks), ``slice_labels/<StudyUID>.csv`` and a ``dataset.json`` listing the same cases.
``nifti``: the dataset.json layout: ``images/<id>.nii.gz``, ``labels/<id>.nii.gz``, ``slice_labels/<id>.csv``,
``boxes/<id>.csv``.
Both are written into a hidden sibling folder and renamed into place at the end: an interrupted run leaves nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import InputError
from ..outputs import atomic_output
from ..volume import Volume
from .dicom_writer import series_uids, write_series
from .labels import BOX_COLUMNS, RSPECT_COLUMNS, exam_labels

LAYOUTS = ("rspect", "nifti")


def write_nifti(volume: Volume, array: np.ndarray, path: Path) -> None:
    """``array`` on ``volume``'s grid as NIfTI (SimpleITK converts LPS to the file's RAS header and back)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(np.asarray(volume.direction, float).ravel()))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)


def _write_csv(path: Path, header, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _provenance(study) -> dict:
    return {"generator": "iexplain synth", "kind": getattr(study, "kind", "synthetic"), "seed": study.seed,
            "study_uid": study.study_uid, "emboli": study.emboli, "contrast": study.contrast,
            "scanner": study.scanner, "spacing": list(study.volume.spacing), "shape_zyx": list(study.volume.shape),
            **({"source": study.volume.metadata["anatomy_source"]}
               if "anatomy_source" in study.volume.metadata else {})}


def write_dataset(out, studies: Iterable, layout: str = "rspect", overwrite: bool = False,
                  description: str = "IExplain synthetic CTPA phantoms",
                  on_study: Callable[[int, object, Path], None] | None = None) -> Path:
    """Write ``studies`` (SyntheticStudy objects; any iterable, consumed one at a time) to the folder ``out``.

    ``on_study(index, study, staging_folder)`` is called after each study is written (progress, previews).
    Refuses an existing ``out`` unless ``overwrite``.
    """
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    out = Path(out)
    with atomic_output(out, overwrite) as staging:
        staging.mkdir(parents=True)
        cases: list[dict] = []
        train_rows: list[list] = []
        box_rows: list[list] = []
        seen: set[str] = set()
        for index, study in enumerate(studies):
            if study.study_uid in seen:
                raise InputError(f"two studies share the StudyInstanceUID {study.study_uid} (same seed twice?)")
            seen.add(study.study_uid)
            if layout == "rspect":
                cases.append(_write_rspect_study(staging, study, train_rows, box_rows))
            else:
                cases.append(_write_nifti_study(staging, study, index))
            if on_study is not None:
                on_study(index, study, staging)
        if not cases:
            raise InputError("no studies to write")
        if layout == "rspect":
            _write_csv(staging / "train.csv", RSPECT_COLUMNS, train_rows)
            _write_csv(staging / "boxes.csv", BOX_COLUMNS, box_rows)
        manifest = {"format": "iexplain-dataset", "version": 1, "description": description, "layout": layout,
                    "cases": cases}
        (staging / "dataset.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return out


def _slice_label_rows(study):
    return [(k, int(v)) for k, v in enumerate(study.slice_labels)]


def _write_rspect_study(root: Path, study, train_rows: list, box_rows: list) -> dict:
    uid = study.study_uid
    series_uid = series_uids(uid, 1)[0]
    sops = write_series(root / uid / series_uid, study.volume, uid, patient_id=f"SYN{study.seed:06d}",
                        contrast_agent="NONE (real non-contrast CT, contrast simulated)" if study.kind != "synthetic"
                        else "IOHEXOL 350 (simulated)")
    exam = exam_labels(study.emboli, study.contrast)
    for k, sop in enumerate(sops):
        row = {"StudyInstanceUID": uid, "SeriesInstanceUID": series_uid, "SOPInstanceUID": sop,
               "pe_present_on_image": int(study.slice_labels[k]), **exam}
        train_rows.append([row[c] for c in RSPECT_COLUMNS])
    for box in study.boxes:
        box_rows.append([uid, series_uid, sops[box["slice_index"]], box["x"], box["y"], box["width"], box["height"]])
    write_nifti(study.volume, study.truth, root / "truth" / f"{uid}.nii.gz")
    _write_csv(root / "slice_labels" / f"{uid}.csv", ("slice_index", "pe_present"), _slice_label_rows(study))
    return {"id": uid, "image": f"{uid}/{series_uid}", "label": f"truth/{uid}.nii.gz",
            "slice_labels": f"slice_labels/{uid}.csv", "provenance": _provenance(study)}


def _write_nifti_study(root: Path, study, index: int) -> dict:
    case = f"case-{index:03d}"
    write_nifti(study.volume, study.volume.array, root / "images" / f"{case}.nii.gz")
    write_nifti(study.volume, study.truth, root / "labels" / f"{case}.nii.gz")
    _write_csv(root / "slice_labels" / f"{case}.csv", ("slice_index", "pe_present"), _slice_label_rows(study))
    _write_csv(root / "boxes" / f"{case}.csv", ("slice_index", "embolus", "x", "y", "width", "height"),
               [[b["slice_index"], b["embolus"], b["x"], b["y"], b["width"], b["height"]] for b in study.boxes])
    return {"id": case, "image": f"images/{case}.nii.gz", "label": f"labels/{case}.nii.gz",
            "slice_labels": f"slice_labels/{case}.csv", "boxes": f"boxes/{case}.csv",
            "provenance": _provenance(study)}
