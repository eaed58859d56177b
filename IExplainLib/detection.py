"""A study's detection result, whichever method made it, and the one writer of every output file it has.

A :class:`Detector` is any method's object: its model loaded once, ``explain(volume)`` doing one study
(:class:`~IExplainLib.explain.IExplainer`, :class:`~IExplainLib.segmenter.inference.Segmenter`,
:class:`~IExplainLib.candidates.detector.CandidateDetector`). :class:`Detection` is what they return: the labelmap on
the CT grid (value k = iteration k for iExplain; 1 for the segmenter; finding k for the candidates, best score
first), the map behind it (iExplain's heat map, the segmenter's probability, the candidates' scores), the rows of the
findings table (``OUT.findings.json``, what the Slicer module lists) and a summary. :func:`write_detection` writes
any subset of its files; ``study_step.StudyStep`` is the one caller that ``detect``, ``pseudo-label`` and the demo
share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from .findings import describe_findings, label_findings, score_text
from .volume import Volume

FINDINGS_FORMAT = "iexplain-findings"
METHODS = ("iexplain", "segmenter", "candidates")


@dataclass
class Detection:
    """A study's result on the CT grid: labelmap, the map behind it, findings rows, summary counts."""

    labelmap: Volume
    heat: Volume | None          # iExplain: normalised heat map; segmenter: PE probability
    iterations: int
    findings: list[dict]
    summary: dict = field(default_factory=dict)
    method: str = "iexplain"

    def segments(self) -> list:
        """The segments of the labelmap as Slicer shows them: 'PE iteration k', one 'PE (segmenter)', or one
        'PE k (calibre, score)' per kept candidate."""
        from .io import SegmentInfo, distinct_color, iteration_segments

        if self.method == "segmenter":
            return [SegmentInfo("PE (segmenter)", 1, distinct_color(0))]
        if self.method == "candidates":
            return [SegmentInfo(f"PE {row['finding']} ({row['calibre']}, {score_text(row['score'])})", row["finding"],
                                distinct_color(row["finding"] - 1)) for row in self.findings]
        return iteration_segments(self.iterations)


class Detector(Protocol):
    """A detection method: the model loaded in ``__init__``, one study per call."""

    def explain(self, volume: Volume, progress: Callable | None = None) -> Detection:
        ...


def describe_study_findings(labelmap: np.ndarray, volume: Volume, heat: np.ndarray | None = None,
                            peak_name: str = "peak_attribution") -> list[dict]:
    """One row per connected cluster of ``labelmap > 0``: iteration (earliest), voxels, mm3, the peak of ``heat``
    (under ``peak_name``), slices, centroid (voxel z, y, x and LPS mm); ordered by iteration, then size."""
    labels, count = label_findings(labelmap > 0)
    if count == 0:
        return []
    voxel_mm3 = float(np.prod(volume.spacing))
    rows: list[dict[str, Any]] = []
    for finding in describe_findings(labels):
        inside = labels[finding.bbox_zyx] == finding.label
        values = labelmap[finding.bbox_zyx][inside]
        z, y, x = finding.centroid_zyx
        rows.append({
            "finding": finding.label,
            "iteration": int(values.min()),
            "iterations": sorted(int(v) for v in np.unique(values)),
            "voxels": finding.voxels,
            "volume_mm3": round(finding.voxels * voxel_mm3, 2),
            peak_name: None if heat is None else round(float(heat[finding.bbox_zyx][inside].max()), 4),
            "slice_range": [int(finding.slice_range[0]), int(finding.slice_range[1])],
            "centroid_zyx": [round(float(c), 2) for c in (z, y, x)],
            "centroid_lps_mm": [round(float(c), 2) for c in volume.index_to_lps((x, y, z))],
        })
    rows.sort(key=lambda r: (r["iteration"], -r["voxels"]))
    return rows


def findings_document(detection: Detection, image: str | Path, model: str | Path, params=None) -> dict:
    """The findings file's content (format ``iexplain-findings``); callers add their own keys (preset, case...)."""
    return {
        "format": FINDINGS_FORMAT,
        "version": 1,
        "method": detection.method,
        "image": str(image),
        "model": str(model),
        "iterations": detection.iterations,
        "params": None if params is None else params.to_dict(),
        "summary": detection.summary,
        "findings": detection.findings,
    }


def write_detection(detection: Detection, *, segmentation: str | Path | None = None, heat: str | Path | None = None,
                    label: str | Path | None = None, dicom_seg: str | Path | None = None,
                    source: Volume | None = None, findings: str | Path | None = None, document: dict | None = None,
                    overwrite: bool = False) -> None:
    """Write the files named: ``segmentation`` (.seg.nrrd, one segment per iteration), ``heat`` (the map behind it,
    .nrrd), ``label`` (the binary union, e.g. .nii.gz), ``dicom_seg`` (a DICOM SEG on ``source``, the DICOM series
    the CT was read from) and ``findings`` (``document`` as JSON, written last: its presence marks a finished case).
    Every file is written atomically; ``overwrite=False`` refuses any that exists."""
    import json

    from .io import write_dicom_seg, write_heatmap, write_labelmap, write_segmentation
    from .io.dicom_seg import seg_segments
    from .outputs import write_text_atomic

    segments = detection.segments()
    if segmentation is not None:
        write_segmentation(segmentation, detection.labelmap, segments, overwrite)
    if heat is not None:
        if detection.heat is None:
            raise ValueError("this detection has no heat map to write")
        write_heatmap(heat, detection.heat, overwrite)
    if label is not None:
        write_labelmap(label, detection.labelmap.with_array((detection.labelmap.array > 0).astype(np.uint8)),
                       overwrite)
    if dicom_seg is not None:
        if source is None:
            raise ValueError("a DICOM SEG needs the source series' volume")
        write_dicom_seg(dicom_seg, detection.labelmap, seg_segments(segments), source, overwrite)
    if findings is not None:
        if document is None:
            raise ValueError("the findings file needs its document (findings_document)")
        write_text_atomic(findings, json.dumps(document, indent=2) + "\n", overwrite)
