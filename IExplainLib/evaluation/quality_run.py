"""``iexplain quality``: the shipped (or given) models scored on the fixed held-out sets of ``quality_sets``.

For every study of every set it runs what ``iexplain detect`` runs, the study step (``study_step.StudyStep``: CT
check, contrast check, the method's detector, the findings document) with each method's detector, writing no file,
and scores the detections it returns. What a figure needs beyond the shipped mask it reads from the same run
(:func:`observed`): iExplain's segments before the filters and its window probabilities; the segmenter's probability
(the detection's map) at its threshold. It scores:

* the classifier's slice AUROC and F1 (at the classifier's threshold, from the first-pass probability of every
  window that the explainer computes anyway);
* iExplain's pseudo-labels for each cumulative iteration k (the union of iterations 1..k, as the ablation counts
  them), before and after the cluster filters; the last row, filtered, is what ``detect`` ships;
* the segmenter's detections (filters on, as ``detect`` runs it);
* every finding-level figure twice, with the paper's intersection matching and with strict matching (a finding
  counts only when ``strict_share`` of its voxels are embolus), plus voxel Dice, pooled over the set;
* false-positive findings per PE-negative study, and seconds per study, for both methods.
"""

from __future__ import annotations

import copy
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

from ..errors import InputError
from ..finding_filters import keep_findings
from ..study_step import StudyResult as StepResult, StudyStep
from .finding_metrics import STRICT_SHARE, FindingScore, score_mask, truth_instances
from .quality_sets import RealCT, quality_sets, set_studies
from .study_sets import StudyCut, StudyGuard, guarded

if TYPE_CHECKING:
    from ..explain.explainer import IExplainer
    from ..explain.params import ExplainParams
    from ..progress import Progress
    from ..segmenter.inference import Segmenter

REPORT_FORMAT = "iexplain-quality"

# Warnings ``iexplain detect`` issues for a study that is not a CT angiogram (``contrast_check``).
WARNING_CHECK_AVAILABLE = True

# Stage 2 filter settings scored side by side on every study (the paper's first): the ablation rows of the CT filters.
FILTER_ABLATION: dict[str, dict[str, Any]] = {
    "none": {"filter": False},
    "paper (size + centre distance)": {"location_filter": "centre", "defect_check": False},
    "chest location": {"location_filter": "chest", "defect_check": False},
    "paper + defect check": {"location_filter": "centre", "defect_check": True, "defect_search_mm": 0.0},
    "chest location + defect check": {"location_filter": "chest", "defect_check": True, "defect_search_mm": 0.0},
    "chest location + defect check, 6 mm search": {"location_filter": "chest", "defect_check": True,
                                                   "defect_search_mm": 6.0},
}


D = TypeVar("D")


@dataclass
class Observation:
    """What an inner call of a detector answered on the study just run (:func:`observed`)."""

    value: Any = None


def observed(detector: D, method: str) -> tuple[D, Observation]:
    """``detector`` with the answer of ``method``, an inner call its ``explain`` makes, kept in the
    :class:`Observation` returned: a shallow copy (the same loaded model, nothing reloaded) whose ``method`` also
    records. The quality figures read what ``detect``'s own run computed on its way to the findings (iExplain's
    segments before the filters, every candidate with its score) instead of computing it by a path of their own."""
    watched = copy.copy(detector)
    inner = getattr(watched, method)
    seen = Observation()

    def record(*args, **kwargs):
        seen.value = inner(*args, **kwargs)
        return seen.value

    setattr(watched, method, record)
    return watched, seen


def _filter_ablation(mask: np.ndarray, params, volume, true_labels, true_count, strict_share) -> dict:
    rows = {}
    for name, settings in FILTER_ABLATION.items():
        chosen = params.replace(filter=True, **settings) if settings.get("filter", True) else None
        kept = mask if chosen is None else keep_findings(mask, chosen, volume)
        rows[name] = score_mask(kept, true_labels, true_count, strict_share)
    return rows


@dataclass
class StudyResult:
    """One study's scores: (unfiltered, filtered) per cumulative iteration k = 1..K, the segmenter's, the row."""

    row: dict
    iterations: list[tuple[FindingScore, FindingScore]]
    segmenter: FindingScore
    probabilities: np.ndarray
    slice_labels: np.ndarray
    filters: dict = field(default_factory=dict)  # method -> filter setting -> FindingScore (all iterations)

    @property
    def negative(self) -> bool:
        return self.row["true_pes"] == 0

    def at(self, k: int) -> tuple[FindingScore, FindingScore]:
        """Scores of the union of iterations 1..k (a study that stopped earlier keeps its final union)."""
        return self.iterations[min(k, len(self.iterations)) - 1]


@dataclass
class QualityModels:
    """Both detectors and their study steps, as ``detect`` builds them (the segmenter with its card's filters)."""

    explainer: IExplainer
    segmenter: Segmenter
    classifier_path: Path
    segmenter_path: Path
    preset: str = field(default="")

    def __post_init__(self):
        watched, self.explained = observed(self.explainer, "run")  # the segments before the filters, probabilities
        self.iexplain_step = StudyStep(watched, self.classifier_path, self.explainer.params)
        self.segmenter_step = StudyStep(self.segmenter, self.segmenter_path)

    @property
    def params(self) -> ExplainParams:
        return self.explainer.params

    @property
    def segmenter_params(self) -> ExplainParams:
        """The segmenter card's filter settings, as ``detect --method segmenter`` uses them."""
        return self.segmenter.params


def ig_preset_name(params) -> str:
    """The attribution preset (``fast``, ``paper``) whose settings ``params`` has, else ``custom``."""
    from ..explain.presets import PRESETS

    for name, preset in PRESETS.items():
        if {key: getattr(params, key) for key in preset} == preset:
            return name
    return "custom"


def load_models(classifier: str | Path, segmenter: str | Path, params=None, device: str = "auto") -> QualityModels:
    """Both models, refused in one line when missing or of the wrong kind, before any study is made.
    ``params`` None: the classifier card's settings with the demo's fast IG preset on top."""
    from ..explain.explainer import IExplainer
    from ..explain.params import params_for_model
    from ..explain.presets import PRESETS
    from ..modelfile import read_card
    from ..segmenter.inference import Segmenter

    classifier, segmenter = Path(classifier), Path(segmenter)
    loaded_segmenter = Segmenter(segmenter, device=device)  # its card's filters
    if params is None:
        params = params_for_model(read_card(classifier), overrides=PRESETS["fast"])
    explainer = IExplainer(classifier, params, device)
    return QualityModels(explainer, loaded_segmenter, classifier, segmenter, ig_preset_name(explainer.params))


def _timed(step: StudyStep, study) -> tuple[StepResult, float]:
    """The study step on a quality study (a CT made in memory; no file written), and its seconds."""
    started = time.monotonic()
    return step(None, case=study.case_id, volume=study.volume), time.monotonic() - started


def score_study(models: QualityModels, study, set_name: str, strict_share: float = STRICT_SHARE) -> StudyResult:
    """Both methods on one study through the study step (what ``detect`` runs), timed, scored for every cumulative
    iteration, filtered and not; the last filtered row is the detection ``detect`` writes."""
    from .ablation import IterationStudy
    from .explainer_runs import AblationResult

    params = models.params
    volume = study.volume
    true_labels, true_count = truth_instances(study.truth)
    iexplain, iexplain_seconds = _timed(models.iexplain_step, study)
    result = AblationResult.of(*models.explained.value)
    segmenter, segmenter_seconds = _timed(models.segmenter_step, study)
    assert segmenter.detection.heat is not None  # the segmenter's detection carries its probability
    segmenter_raw = segmenter.detection.heat.array >= models.segmenter.threshold
    segmenter_mask = segmenter.detection.labelmap.array > 0

    iterations = IterationStudy(study.case_id, result.unfiltered, result.iterations, true_labels, true_count,
                                study.source)
    scores = []
    last = max(1, int(result.unfiltered.max(initial=0)))
    for k in range(1, last + 1):
        mask = iterations.cumulative(k)  # k = last: all iterations, and the filtered mask is what detect ships
        kept = iexplain.detection.labelmap.array > 0 if k == last else \
            keep_findings(mask, params, volume) if params.filter else mask
        scores.append((score_mask(mask, true_labels, true_count, strict_share),
                       score_mask(kept, true_labels, true_count, strict_share)))
    segmenter_score = score_mask(segmenter_mask, true_labels, true_count, strict_share)
    filters = {"iexplain": _filter_ablation(iterations.cumulative(len(scores)), params, volume, true_labels,
                                            true_count, strict_share),
               "segmenter": _filter_ablation(segmenter_raw, params, volume, true_labels, true_count, strict_share)}
    slice_labels = np.asarray((true_labels > 0).reshape(true_labels.shape[0], -1).any(axis=1))
    unfiltered, filtered = scores[-1]
    row = {"set": set_name, "case": study.case_id, "source": study.source, "seed": study.seed,
           "shape_zyx": list(volume.shape), "spacing_xyz_mm": [round(float(s), 4) for s in volume.spacing],
           "true_pes": true_count, "truth_voxels": int(np.count_nonzero(true_labels)),
           "positive_slices": int(slice_labels.sum()),
           "iexplain": {"seconds": round(iexplain_seconds, 2), "window_iterations": result.iterations,
                        "segments": len(scores), "unfiltered": unfiltered.as_dict(), "filtered": filtered.as_dict()},
           "segmenter": {"seconds": round(segmenter_seconds, 2), **segmenter_score.as_dict()},
           "warnings": iexplain.document["warnings"]}
    return StudyResult(row, scores, segmenter_score, np.asarray(result.probabilities), slice_labels, filters)


def _pooled(scores) -> FindingScore:
    return sum(scores, FindingScore())


def _mean(values) -> float | None:
    values = list(values)
    return None if not values else round(float(np.mean(values)), 3)


def _best(rows: list[dict], matching: str) -> int:
    def f1(row):
        value = row["filtered"][matching]["f1"]
        return -1.0 if value is None else value

    return max(rows, key=lambda row: (f1(row), -row["k"]))["k"]  # the earliest k among ties, as the ablation


def summarise_set(item, results: list[StudyResult], threshold: float, shipped: str = "filtered") -> dict:
    """Pooled figures of one set: slices, iExplain per cumulative iteration, segmenter, negatives, time.
    ``shipped``: which iExplain mask ``detect`` writes, ``filtered`` (default) or ``unfiltered`` (``--no-filter``)."""
    from ..slice_metrics import slice_metrics

    depth = max(len(result.iterations) for result in results)
    curve = []
    for k in range(1, depth + 1):
        unfiltered = _pooled(result.at(k)[0] for result in results)
        filtered = _pooled(result.at(k)[1] for result in results)
        curve.append({"k": k, "unfiltered": unfiltered.as_dict(), "filtered": filtered.as_dict()})
    negatives = [result for result in results if result.negative]
    iexplain = {"iterations": curve, "shipped": curve[-1][shipped],
                "best_iteration": {"intersection": _best(curve, "intersection"), "strict": _best(curve, "strict")},
                "fp_per_negative_study": _mean(r.row["iexplain"][shipped]["findings"] for r in negatives),
                "seconds_per_study": _mean(r.row["iexplain"]["seconds"] for r in results)}
    segmenter = {**_pooled(result.segmenter for result in results).as_dict(),
                 "fp_per_negative_study": _mean(r.row["segmenter"]["findings"] for r in negatives),
                 "seconds_per_study": _mean(r.row["segmenter"]["seconds"] for r in results)}
    ablation = {method: {name: {**_pooled(r.filters[method][name] for r in results).as_dict(),
                                "fp_per_negative_study": _mean(r.filters[method][name].as_dict()["findings"]
                                                               for r in negatives)}
                         for name in FILTER_ABLATION}
                for method in ("iexplain", "segmenter")}
    slices = slice_metrics(np.concatenate([r.probabilities for r in results]),
                           np.concatenate([r.slice_labels for r in results]), threshold)
    return {"name": item.name, "kind": item.kind, "description": item.description, "definition": item.to_dict(),
            "skipped": None, "studies": len(results), "negative_studies": len(negatives),
            "true_pes": sum(r.row["true_pes"] for r in results), "slice": slices, "iexplain": iexplain,
            "segmenter": segmenter, "filter_ablation": ablation, "per_study": [r.row for r in results]}


def _skipped(item, reason: str) -> dict:
    return {"name": item.name, "kind": item.kind, "description": item.description, "definition": item.to_dict(),
            "skipped": reason, "studies": 0}


def _shown_path(path: Path) -> str:
    """A path inside the project relative to its root (``Resources/Models/...``), others as given."""
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def _model_entry(path: Path, card: dict, threshold: float) -> dict:
    return {"path": _shown_path(path), "sha256": card.get("sha256"), "architecture": card.get("architecture"),
            "name": card.get("name"), "threshold": threshold}


def _out_of_time(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


TIME_SPENT = "the time limit was reached before this set"
CUT = "the time limit was reached inside this set's first study"
NOT_CHOSEN = "not among the sets asked for (--sets)"


def _chosen_sets(sets, names: Sequence[str] | None) -> tuple:
    if names is None:
        return tuple(sets)
    known = [item.name for item in sets]
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        raise InputError(f"--sets takes names among {', '.join(known)}; got {', '.join(unknown) or 'none'}")
    return tuple(item for item in sets if item.name in set(names))


def run_quality(classifier: str | Path, segmenter: str | Path, quick: bool = False, params=None,
                strict_share: float = STRICT_SHARE, real_ct_root: str | Path | RealCT | None = None,
                device: str = "auto", progress: Progress | None = None, deadline: float | None = None,
                preset: dict | None = None, only_sets: Sequence[str] | None = None,
                guard: StudyGuard | None = None) -> dict:
    """The quality report (a JSON-ready dict) of two models on the fixed held-out sets (``quick``: tiny ones).

    ``real_ct_root``: the folder of the real CT, or a :class:`RealCT` already read (shared between runs).
    ``deadline`` (a ``time.monotonic()`` value): no study is started after it; a set cut short says ``partial``
    (its figures pool the studies scored), a set not reached is skipped with that reason.
    ``preset``: how the attribution preset was chosen (``PresetChoice.as_dict()``), recorded in the report.
    ``only_sets``: score only the sets of these names (the others are listed as skipped), for costly settings such
    as the paper's attribution preset on a CPU.
    ``guard``: every study runs inside ``guard()`` (e.g. ``reproduce.budget.cut_at``); a :class:`StudyCut` raised
    there gives up that study: its set keeps the studies finished (``partial``, ``cut_inside_study`` names the one
    given up; skipped with :data:`CUT` when none was) and no later set is started (:data:`TIME_SPENT`)."""
    if not 0.0 < strict_share <= 1.0:
        raise InputError(f"--strict-share must lie in (0, 1], got {strict_share}")
    started = time.monotonic()
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    models = load_models(classifier, segmenter, params, device)
    real_ct = real_ct_root if isinstance(real_ct_root, RealCT) else RealCT(real_ct_root)
    sets = quality_sets(quick)
    chosen = _chosen_sets(sets, only_sets)
    shipped = "filtered" if models.params.filter else "unfiltered"
    runnable = [item for item in sets if item in chosen and (real_ct.available or not item.needs_real_ct)]
    total = sum(item.studies for item in runnable)
    done = 0
    cut: str | None = None  # the study given up by the guard: nothing is started after it
    summaries, all_results = [], []
    for item in sets:
        if item not in chosen:
            summaries.append(_skipped(item, NOT_CHOSEN))
            continue
        if item not in runnable:
            summaries.append(_skipped(item, f"real CT not found at {real_ct.path} (set IEXPLAIN_REAL_CT)"))
            continue
        set_started = time.monotonic()
        results = []
        cut_here = None
        for study in set_studies(item, real_ct) if cut is None else ():
            if _out_of_time(deadline):
                break
            if progress:
                progress("quality", done / total, f"{item.name}: {study.case_id}", case=study.case_id)
            try:
                with guarded(guard):
                    scored = score_study(models, study, item.name, strict_share)
            except StudyCut:
                cut = cut_here = study.case_id
                break
            results.append(scored)
            done += 1
        if not results:
            summaries.append(_skipped(item, CUT if cut_here else TIME_SPENT))
            continue
        summary = summarise_set(item, results, models.explainer.threshold, shipped)
        summary["seconds"] = round(time.monotonic() - set_started, 1)
        summary["partial"] = len(results) < item.studies
        if cut_here:
            summary["cut_inside_study"] = cut_here
        summaries.append(summary)
        all_results += results
    explainer = models.explainer
    report = {
        "format": REPORT_FORMAT, "version": 1, "quick": quick,
        "models": {"classifier": _model_entry(models.classifier_path, explainer.card, explainer.threshold),
                   "segmenter": _model_entry(models.segmenter_path, models.segmenter.card,
                                             models.segmenter.threshold)},
        "ig_preset": models.preset, "preset": preset, "explain_params": models.params.to_dict(), "iexplain_shipped": shipped,
        "segmenter_filters": {key: getattr(models.segmenter_params, key) for key in
                              ("filter", "location_filter", "defect_check", "defect_search_mm",
                               "min_cluster_voxels")},
        "strict_share": strict_share,
        "matching": {
            "intersection": "the paper's: a predicted cluster (26-connected) and a true PE match when they share a "
                            "voxel; FP = clusters touching no true PE",
            "strict": f"a cluster counts only when at least {100 * strict_share:g}% of its voxels are embolus truth; "
                      "TP = true PEs touched by such a cluster; FP = every other cluster",
            "dice": "2 |P & T| / (|P| + |T|), voxel counts summed over the set's studies"},
        "sets": summaries,
        "negative_studies": [{"set": r.row["set"], "case": r.row["case"],
                              "iexplain_findings": r.row["iexplain"][shipped]["findings"],
                              "segmenter_findings": r.row["segmenter"]["findings"], "warnings": r.row["warnings"]}
                             for r in all_results if r.negative],
        "no_contrast": _no_contrast(summaries, shipped),
        "runtime_s": round(time.monotonic() - started, 1),
        "environment": {"device": str(explainer.device), "host": platform.machine(), "cpus": os.cpu_count(),
                        "torch_threads": _torch_threads(), "load_average_at_start": load_at_start},
    }
    if progress:
        progress.done(f"quality report of {done} studies in {report['runtime_s']:.0f} s", studies=done)
    return report


def score_segmenters(segmenters: Mapping[str, str | Path], quick: bool = False, strict_share: float = STRICT_SHARE,
                     real_ct_root: str | Path | RealCT | None = None, device: str = "auto",
                     progress: Callable | None = None, deadline: float | None = None,
                     guard: StudyGuard | None = None) -> dict:
    """Several segmenters alone on the quality command's held-out sets, scored as ``run_quality`` scores its
    segmenter (each with its card's filter settings): ``{name: {set name: pooled figures or skipped reason}}``.
    For comparisons such as finetuned against random init (Table 5), where running iExplain again would add
    nothing. ``deadline`` and ``guard`` as in :func:`run_quality`: a study cut inside ``guard()`` is given up for
    every segmenter (they stay compared on the same studies), the studies scored before it are kept."""
    from ..segmenter.inference import Segmenter

    loaded = {name: StudyStep(Segmenter(path, device=device), path) for name, path in segmenters.items()}
    real_ct = real_ct_root if isinstance(real_ct_root, RealCT) else RealCT(real_ct_root)
    figures: dict = {name: {} for name in loaded}
    cut: str | None = None
    for item in quality_sets(quick):
        if item.needs_real_ct and not real_ct.available:
            for name in loaded:
                figures[name][item.name] = {"skipped": f"real CT not found at {real_ct.path}"}
            continue
        scores: dict = {name: [] for name in loaded}
        negatives: dict = {name: [] for name in loaded}
        cut_here = None
        for study in set_studies(item, real_ct) if cut is None else ():
            if _out_of_time(deadline):
                break
            if progress:
                progress("quality", None, f"segmenters on {item.name}: {study.case_id}", case=study.case_id)
            true_labels, true_count = truth_instances(study.truth)
            try:
                with guarded(guard):
                    study_scores = {name: score_mask(step(None, case=study.case_id, volume=study.volume)
                                                     .detection.labelmap.array > 0, true_labels, true_count,
                                                     strict_share) for name, step in loaded.items()}
            except StudyCut:
                cut = cut_here = study.case_id
                break
            for name, score in study_scores.items():
                scores[name].append(score)
                if true_count == 0:
                    negatives[name].append(score.as_dict()["findings"])
        for name in loaded:
            figures[name][item.name] = ({"skipped": CUT if cut_here else TIME_SPENT} if not scores[name] else
                                        {**_pooled(scores[name]).as_dict(), "studies": len(scores[name]),
                                         "partial": len(scores[name]) < item.studies,
                                         "fp_per_negative_study": _mean(negatives[name]),
                                         **({"cut_inside_study": cut_here} if cut_here else {})})
    return figures


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _no_contrast(summaries: list[dict], shipped: str) -> dict | None:
    """The real CT without contrast: findings of both methods, and whether the pipeline said it is no CTPA."""
    item = next((s for s in summaries if s["kind"] == "real-ct" and not s["skipped"]), None)
    if item is None:
        return None
    row = item["per_study"][0]
    return {"case": row["case"], "shape_zyx": row["shape_zyx"],
            "iexplain_findings": row["iexplain"][shipped]["findings"],
            "iexplain_voxels": row["iexplain"][shipped]["predicted_voxels"],
            "segmenter_findings": row["segmenter"]["findings"],
            "segmenter_voxels": row["segmenter"]["predicted_voxels"], "warnings": row["warnings"],
            "warning_check_available": WARNING_CHECK_AVAILABLE,
            "not_ctpa_warning": bool(row["warnings"]) if WARNING_CHECK_AVAILABLE else None}
