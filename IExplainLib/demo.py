"""``iexplain demo``: one phantom study through the whole product, with its truth to score against.

It is what a new user runs first, so it uses only what ships (the bundled demo models), writes the same files that
``iexplain detect`` writes, and says how well both methods did on a study whose emboli are known.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .errors import ModelFileError
from .findings import score_text
from .modelfile import bundled_model
from .outputs import atomic_output
from .progress import QUIET, Progress

DEMO_FILES = {
    "ct": "ct.nrrd",
    "truth": "truth.nii.gz",
    "iexplain": "iexplain.seg.nrrd",
    "heatmap": "iexplain-heatmap.nrrd",
    "iexplain_findings": "iexplain.findings.json",
    "segmenter": "segmenter.seg.nrrd",
    "probability": "segmenter-probability.nrrd",
    "segmenter_findings": "segmenter.findings.json",
    "candidates": "candidates.seg.nrrd",
    "scores": "candidate-scores.nrrd",
    "candidates_findings": "candidates.findings.json",
    "overview": "overview.png",
    "metrics": "metrics.json",
}


# The demo must finish in a few minutes on a laptop CPU: the "fast" attribution preset (8 steps x 2 references x 2
# SmoothGrad samples instead of the paper's 20 x 5 x 3 passes per window), everything else as configured.
DEMO_PRESET = "fast"


def _require(name: str) -> Path:
    path = bundled_model(name)
    if not path.exists():
        raise ModelFileError(f"bundled model {path} is missing (reinstall IExplain, or set IEXPLAIN_MODELS_DIR)")
    return path


def run_demo(out: str | Path, seed: int = 9001, slices: int = 48, size: int = 256, device: str = "auto",
             overwrite: bool = False, progress: Progress = QUIET) -> str:
    """Make a phantom, run iExplain, the segmenter and the candidate detector, write results and metrics into
    ``out``; returns a summary."""
    from .evaluation.finding_metrics import match_findings, match_findings_strict
    from .explain.params import params_for_model
    from .io import write_labelmap, write_volume
    from .modelfile import read_card
    from .phantoms import make_study
    from .study_step import StudyFiles, StudyStep

    classifier, segmenter = _require("demo-classifier"), _require("demo-segmenter")
    reducer = _require("demo-reducer")
    out = Path(out)
    started = time.monotonic()
    with atomic_output(out, overwrite) as staging:  # a failed demo leaves no half-written folder
        staging.mkdir(parents=True)
        progress("phantom", 0.0, f"making a {size}x{size}x{slices} phantom CTPA (seed {seed})")
        study = make_study(seed, slices=slices, size=size)
        ct = study.volume
        write_volume(staging / DEMO_FILES["ct"], ct)
        write_labelmap(staging / DEMO_FILES["truth"], ct.with_array(study.truth.astype(np.uint8)))

        def detect(method: str, model: Path, segmentation: str, heat: str, findings: str, params=None):
            """``iexplain detect`` on the phantom: the study step, with the CT already in memory."""
            step = StudyStep.for_method(method, model, params, device=device, progress=progress)
            files = StudyFiles(staging / DEMO_FILES[findings], staging / DEMO_FILES[segmentation],
                               staging / DEMO_FILES[heat])
            return step(out / DEMO_FILES["ct"], files, volume=ct).detection

        params = params_for_model(read_card(classifier), preset=DEMO_PRESET)
        iexplain = detect("iexplain", classifier, "iexplain", "heatmap", "iexplain_findings", params)
        iexplain_seconds = time.monotonic() - started

        progress("segmenter", 0.0, "DynUNet sliding-window inference")
        segmented = detect("segmenter", segmenter, "segmenter", "probability", "segmenter_findings")
        mask = segmented.labelmap.array
        segmenter_seconds = time.monotonic() - started - iexplain_seconds

        progress("candidates", 0.0, "candidate filling defects and the false-positive reducer")
        candidate_started = time.monotonic()
        found = detect("candidates", reducer, "candidates", "scores", "candidates_findings")
        candidate_seconds = time.monotonic() - candidate_started

        metrics = {
            "study": {"seed": seed, "shape_zyx": list(ct.shape), "spacing_xyz_mm": list(ct.spacing),
                      "true_emboli": len(study.emboli), "emboli": study.emboli},
            "iexplain": {**match_findings(iexplain.labelmap.array, study.truth).as_dict(),
                         "iterations": iexplain.iterations, "seconds": round(iexplain_seconds, 1),
                         "params": params.to_dict()},
            "segmenter": {**match_findings(mask, study.truth).as_dict(), "seconds": round(segmenter_seconds, 1)},
            "candidates": {**match_findings(found.labelmap.array, study.truth).as_dict(),
                           "strict": match_findings_strict(found.labelmap.array, study.truth).as_dict(),
                           "candidates": found.summary["candidates"], "threshold": found.summary["threshold"],
                           "seconds": round(candidate_seconds, 1)},
            "models": {"classifier": str(classifier), "segmenter": str(segmenter), "reducer": str(reducer)},
        }
        (staging / DEMO_FILES["metrics"]).write_text(json.dumps(metrics, indent=2, default=_plain))
        progress("overview", 0.0, "drawing the overview picture")
        heat = iexplain.heat
        assert heat is not None  # an iExplain detection always has its heat map
        draw_overview(staging / DEMO_FILES["overview"], study, iexplain.labelmap.array, heat.array, mask, metrics,
                      found.labelmap.array)
    progress.done(f"demo written to {out}")
    return summary_text(out, metrics, time.monotonic() - started)


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)


def _score(block: dict) -> str:
    def number(key):
        value = block.get(key)
        return "n/a" if value is None else f"{value:.2f}"
    return (f"TP {block['tp']}  FP {block['fp']}  FN {block['fn']}  sensitivity {number('sensitivity')}  "
            f"PPV {number('ppv')}  F1 {number('f1')}")


def summary_text(out: Path, metrics: dict, seconds: float) -> str:
    study = metrics["study"]
    return "\n".join([
        f"IExplain demo: phantom CTPA seed {study['seed']}, {study['true_emboli']} true emboli, "
        f"{seconds:.0f} s in all",
        f"  iExplain  ({metrics['iexplain']['iterations']} iterations): {_score(metrics['iexplain'])}",
        f"  segmenter: {_score(metrics['segmenter'])}",
        f"  candidates ({metrics['candidates']['candidates']} candidates, score >= "
        f"{score_text(metrics['candidates']['threshold'])}): {_score(metrics['candidates'])}",
        f"  results in {out}/: " + ", ".join(DEMO_FILES.values()),
        "  open ct.nrrd with iexplain.seg.nrrd and iexplain-heatmap.nrrd in 3D Slicer to inspect each iteration",
    ])


def _slices_to_show(truth: np.ndarray, predicted: np.ndarray, count: int = 3) -> list[int]:
    """Slices with the most truth (or, for a negative study, the most predicted voxels)."""
    area = (truth > 0).sum(axis=(1, 2))
    if not area.any():
        area = (predicted > 0).sum(axis=(1, 2))
    order = [int(z) for z in np.argsort(-area, kind="stable") if area[z] > 0]
    chosen: list[int] = []
    for z in order:  # spread the rows over different emboli rather than neighbouring slices
        if all(abs(z - c) > 3 for c in chosen):
            chosen.append(z)
        if len(chosen) == count:
            break
    return chosen or [truth.shape[0] // 2]


def draw_overview(path: Path, study, iteration_labels: np.ndarray, heat: np.ndarray, segmenter_mask: np.ndarray,
                  metrics: dict, candidate_labels: np.ndarray | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct = study.volume.array.astype(np.float32)
    rows = _slices_to_show(study.truth, iteration_labels)
    columns = 3 if candidate_labels is None else 4
    figure, axes = plt.subplots(len(rows), columns, figsize=(4 * columns, 4 * len(rows)), squeeze=False)
    heat_top = float(np.percentile(heat[heat > 0], 99.5)) if (heat > 0).any() else 1.0
    for row, z in enumerate(rows):
        for column in range(columns):
            ax = axes[row, column]
            ax.imshow(ct[z], cmap="gray", vmin=-100, vmax=500)  # CTPA window: lumen bright, clot grey
            ax.contour(study.truth[z] > 0, levels=[0.5], colors="lime", linewidths=1.0)
            ax.set_axis_off()
        axes[row, 0].set_title(f"slice {z}: CT, truth (green)")
        overlay = np.ma.masked_less_equal(heat[z], 0.05 * heat_top)
        axes[row, 1].imshow(overlay, cmap="inferno", alpha=0.6, vmin=0, vmax=heat_top)
        for k in np.unique(iteration_labels[z]):
            if k > 0:
                axes[row, 1].contour(iteration_labels[z] == k, levels=[0.5], colors=[f"C{int(k) % 10}"],
                                     linewidths=1.2)
        axes[row, 1].set_title("iExplain: heat map, iteration segments")
        axes[row, 2].contour(segmenter_mask[z] > 0, levels=[0.5], colors="red", linewidths=1.2)
        axes[row, 2].set_title("segmenter (red)")
        if candidate_labels is not None:
            axes[row, 3].contour(candidate_labels[z] > 0, levels=[0.5], colors="cyan", linewidths=1.2)
            axes[row, 3].set_title("candidates kept by the reducer (cyan)")
    candidates = f", candidates F1 {_f1(metrics['candidates'])}" if "candidates" in metrics else ""
    figure.suptitle(f"IExplain demo, phantom seed {metrics['study']['seed']}: iExplain F1 "
                    f"{_f1(metrics['iexplain'])}, segmenter F1 {_f1(metrics['segmenter'])}{candidates}")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _f1(block: dict) -> str:
    return "n/a" if block.get("f1") is None else f"{block['f1']:.2f}"
