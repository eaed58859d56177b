"""Labels derived from a truth instance mask: per-slice presence, 2D boxes, embolus summaries, RSPECT exam columns."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RSPECT_COLUMNS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "pe_present_on_image", "negative_exam_for_pe",
    "qa_motion", "qa_contrast", "flow_artifact", "rv_lv_ratio_gte_1", "rv_lv_ratio_lt_1", "leftsided_pe",
    "chronic_pe", "true_filling_defect_not_pe", "rightsided_pe", "acute_and_chronic_pe", "central_pe",
    "indeterminate",
)
BOX_COLUMNS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "x", "y", "width", "height")


def slice_labels(truth: np.ndarray) -> np.ndarray:
    """True for every z index whose slice holds truth."""
    return np.asarray(truth.reshape(truth.shape[0], -1).any(axis=1))


def boxes_from_truth(truth: np.ndarray) -> list[dict]:
    """One 2D box per embolus per slice (pixels; x = column, y = row; width/height inclusive of both ends)."""
    boxes = []
    objects = ndimage.find_objects(truth.astype(np.int32))
    for label, found in enumerate(objects, start=1):
        if found is None:
            continue
        zsl, ysl, xsl = found
        block = truth[found] == label
        for dz in range(block.shape[0]):
            plane = block[dz]
            if not plane.any():
                continue
            rows = np.flatnonzero(plane.any(axis=1))
            cols = np.flatnonzero(plane.any(axis=0))
            boxes.append({"slice_index": zsl.start + dz, "embolus": label,
                          "x": int(xsl.start + cols[0]), "y": int(ysl.start + rows[0]),
                          "width": int(cols[-1] - cols[0] + 1), "height": int(rows[-1] - rows[0] + 1)})
    boxes.sort(key=lambda b: (b["slice_index"], b["embolus"]))
    return boxes


def exam_labels(emboli: list[dict], contrast: dict) -> dict[str, int]:
    """RSPECT exam-level columns consistent with the emboli present (negative exams: all PE columns 0)."""
    positive = bool(emboli)
    central = any(e["level"] == "central" for e in emboli)
    heavy = central  # a central clot is the burden that strains the right ventricle
    return {
        "negative_exam_for_pe": int(not positive),
        "qa_motion": 0,
        "qa_contrast": int(bool(contrast.get("poor_contrast", False))),
        "flow_artifact": int(bool(contrast.get("flow_artifact", False))),
        "rv_lv_ratio_gte_1": int(positive and heavy),
        "rv_lv_ratio_lt_1": int(positive and not heavy),
        "leftsided_pe": int(any(e["side"] == "left" for e in emboli)),
        "chronic_pe": 0,
        "true_filling_defect_not_pe": 0,
        "rightsided_pe": int(any(e["side"] == "right" for e in emboli)),
        "acute_and_chronic_pe": 0,
        "central_pe": int(central),
        "indeterminate": 0,
    }
