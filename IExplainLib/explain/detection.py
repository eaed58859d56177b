"""One CT in, iExplain's segmentation out: the library call behind ``iexplain detect`` and ``pseudo-label``.

:func:`detect_iexplain` runs the classifier's sliding window through Algorithm 1 and returns the per-iteration
labelmap and the heat map on the CT's grid; :func:`describe_study_findings` turns a labelmap into the rows of the
findings table (``OUT.findings.json``) that the Slicer module shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..findings import describe_findings, label_findings
from ..progress import QUIET
from ..volume import Volume
from .params import ExplainParams, params_for_model
from .study import StudyExplanation, explain_stack, to_ct_grid

FINDINGS_FORMAT = "iexplain-findings"


@dataclass
class Detection:
    """A study's result on the CT grid: labelmap (value k = iteration k), heat map, findings rows."""

    labelmap: Volume
    heat: Volume | None
    iterations: int
    findings: list[dict]
    summary: dict = field(default_factory=dict)


def prepare_classifier(loaded, device):
    """The loaded classifier made cheap to differentiate (frozen, Conv+BN fused, channels_last), checked on a random
    input of its own size. Done once per process: ``pseudo-label`` reuses it for every case."""
    import torch

    from .model_prep import prepare_for_attribution

    spec = loaded.spec
    example = torch.rand((1, spec.channels, spec.input_size, spec.input_size),
                         generator=torch.Generator().manual_seed(0)).to(device)
    return prepare_for_attribution(loaded.model.to(device), example)


def detect_iexplain(volume: Volume, classifier, params: ExplainParams | None = None, device="auto",
                    progress=None, prepared_model=None) -> Detection:
    """iExplain on one study. ``classifier``: a model file path or a loaded classifier (``load_classifier``);
    ``prepared_model``: the result of :func:`prepare_classifier` for it, when already made."""
    from ..classifier import load_classifier, prepare_study
    from ..classifier.windows import field_of_view_box
    from ..devices import resolve_device

    progress = progress or QUIET
    device = resolve_device(device) if isinstance(device, str) else device
    loaded = classifier if hasattr(classifier, "spec") else load_classifier(classifier, device)
    params = params or params_for_model(loaded.card)
    if volume.shape[0] < 1:
        raise InputError("the CT has no slices")
    progress("prepare", 0.0, f"windowing and resampling {volume.describe()}")
    stack = prepare_study(volume, loaded.spec).to(device)
    model = prepared_model if prepared_model is not None else prepare_classifier(loaded, device)
    threshold = loaded.spec.threshold if params.classifier_threshold is None else params.classifier_threshold
    explanation = explain_stack(model, stack, loaded.spec, params, device, threshold, progress)
    del stack
    progress("assemble", 0.0, "per-iteration segments on the CT grid")
    result = to_ct_grid(explanation, volume.shape, params, field_of_view_box(volume.shape, volume.spacing, loaded.spec),
                        volume)
    labelmap = volume.with_array(result.labelmap)
    heat = volume.with_array(result.heat)
    findings = describe_study_findings(result.labelmap, volume, result.heat)
    summary = study_summary(explanation, result.labelmap, result.unfiltered)
    return Detection(labelmap, heat, int(result.labelmap.max(initial=0)), findings, summary)


def study_summary(explanation: StudyExplanation, labelmap: np.ndarray, unfiltered: np.ndarray) -> dict:
    """Counts for logs and the findings file: windows positive, iterations run, why windows stopped."""
    reasons = {}
    for reason, ran in zip(explanation.stop_reasons, explanation.iterations):
        if ran:
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "slices": int(explanation.probabilities.size),
        "positive_windows": int((explanation.probabilities > explanation.threshold).sum()),
        "classifier_threshold": float(explanation.threshold),
        "max_window_iterations": int(explanation.iterations.max(initial=0)),
        "stop_reasons": reasons,
        "voxels_before_filter": int((unfiltered > 0).sum()),
        "voxels": int((labelmap > 0).sum()),
    }


def describe_study_findings(labelmap: np.ndarray, volume: Volume, heat: np.ndarray | None = None) -> list[dict]:
    """One row per connected cluster of ``labelmap > 0``: iteration (earliest), voxels, mm3, peak heat, slices,
    centroid (voxel z, y, x and LPS mm)."""
    labels, count = label_findings(labelmap > 0)
    if count == 0:
        return []
    voxel_mm3 = float(np.prod(volume.spacing))
    rows = []
    for finding in describe_findings(labels):
        inside = labels[finding.bbox_zyx] == finding.label
        values = labelmap[finding.bbox_zyx][inside]
        z, y, x = finding.centroid_zyx
        row = {
            "finding": finding.label,
            "iteration": int(values.min()),
            "iterations": sorted(int(v) for v in np.unique(values)),
            "voxels": finding.voxels,
            "volume_mm3": round(finding.voxels * voxel_mm3, 2),
            "peak_attribution": None if heat is None else round(float(heat[finding.bbox_zyx][inside].max()), 4),
            "slice_range": [int(finding.slice_range[0]), int(finding.slice_range[1])],
            "centroid_zyx": [round(float(c), 2) for c in (z, y, x)],
            "centroid_lps_mm": [round(float(c), 2) for c in volume.index_to_lps((x, y, z))],
        }
        rows.append(row)
    rows.sort(key=lambda r: (r["iteration"], -r["voxels"]))
    return rows


def findings_document(detection: Detection, image: str | Path, method: str, model: str | Path,
                      params: ExplainParams | None) -> dict:
    return {
        "format": FINDINGS_FORMAT,
        "version": 1,
        "method": method,
        "image": str(image),
        "model": str(model),
        "iterations": detection.iterations,
        "params": None if params is None else params.to_dict(),
        "summary": detection.summary,
        "findings": detection.findings,
    }
