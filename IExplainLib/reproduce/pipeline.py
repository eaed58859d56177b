"""``iexplain reproduce``: the whole method in one run, every phase through the library's own entry points.

Phases, in order (shares of ``--minutes`` in :mod:`.scale`, scheduling in :mod:`.budget`):

1. ``data``: phantoms made in parallel on every core (or a dataset folder split by role, :mod:`.studies`);
2. ``bench``: the ``iexplain bench`` figures: attribution engine against the plain Captum loop (the paper's
   settings on CUDA, with TFLOP/s against the bf16 peak) and segmenter inference on a 512x512x300 study;
3. ``classifier``: Stage 1 (``train_classifier``: timm EfficientNetV2, bf16 autocast and channels_last on CUDA);
4. ``tune``: h chosen on the tuning studies (``tune_threshold``), written into the classifier's card;
5. ``reducer``: the candidate detector's false-positive reducer (``train_reducer``, :mod:`.reducer`): candidates of
   every training study with its slice labels only (multiple-instance learning), the score threshold chosen on the
   tuning studies' truth;
6. ``pseudo-label``: iExplain (``IExplainer.explain``) on every training study; scored against truth where known;
7. ``segmenter``: Stage 3 on the pseudo-labels (``train_segmenter``);
8. ``finetune``: the WSL segmenter finetuned on the truth-labelled studies, and the same network from random init
   with the same schedule and time (the paper's Table 5);
9. ``quality``: ``iexplain quality``'s held-out sets (seeds >= 9000, never trained on): classifier, iExplain and WSL
   segmenter (``run_quality``), then the finetuned and random-init segmenters on the same sets, then the candidate
   detector with this run's reducer (``score_candidate_detector``: FROC, per calibre, FP per negative study).

Training phases end at their deadline with what they have (the schedule shrinks to fit; the model is written); the
others start no study after it. Outputs: ``models/`` (safetensors + JSON card each), ``quality.json``/``.md``,
``bench.json`` and ``reproduce.json``/``.md``, rewritten after every phase.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IExplainError, InputError, OutputExistsError
from ..progress import QUIET, Progress
from .budget import Phase, PhaseBudget, PhaseSkipped
from .scale import PHASES, Scale, explain_batch_size
from .studies import Study, dataset_studies, make_phantoms, of_role

if TYPE_CHECKING:
    import torch

OUTPUT_NAMES = ("models", "work", "reproduce.json", "reproduce.md", "quality.json", "quality.md", "bench.json")
MODEL_NAMES = {"classifier": "classifier", "wsl": "wsl-segmenter", "finetuned": "finetuned-from-wsl",
               "scratch": "random-init", "reducer": "reducer"}
NO_REDUCER = "no reducer: the reducer phase did not run or made none"
NOT_ASKED = "the bundled models were not scored (--no-bundled)"


@dataclass
class ReproduceOptions:
    out: Path
    scale: Scale
    minutes: float
    device: str = "auto"
    data: Path | None = None
    overwrite: bool = False
    real_ct: str | None = None
    workers: int | None = None
    command: str = ""
    phases: tuple[str, ...] = PHASES
    compare_bundled: bool = True    # score the bundled models too, for the decision bundled vs new

    def __post_init__(self):
        unknown = [name for name in self.phases if name not in PHASES]
        if unknown or not self.phases:
            raise InputError(f"phases are among {', '.join(PHASES)}; got {', '.join(unknown) or 'none'}")


def check_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``overwrite``; then remove this command's own outputs only."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out} is not empty (use --overwrite to replace a previous run's outputs)")
        for name in OUTPUT_NAMES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _one_line_errors(function) -> dict:
    """A benchmark's figures, or ``{"error": one line}``: one failed figure must not cost the others."""
    try:
        return function()
    except Exception as error:  # e.g. CUDA out of memory on a smaller GPU than the paper settings assume
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}


def _explain_fitting_memory(volume, explainer):
    """``explainer.explain``, retried with half the rows per attribution pass while the GPU runs out of memory.
    Returns (detection, the explainer whose parameters fitted) so the next study starts from those."""
    import torch

    while True:
        try:
            return explainer.explain(volume), explainer
        except torch.cuda.OutOfMemoryError:
            if explainer.params.batch_size <= 1:
                raise
            torch.cuda.empty_cache()
            explainer = explainer.with_params(
                explainer.params.replace(batch_size=max(1, explainer.params.batch_size // 2)))


def _truth_of(study: Study) -> np.ndarray:
    """The voxel truth of a study that has one (``has_truth``)."""
    truth = study.load_truth()
    assert truth is not None  # only studies with has_truth are asked for it
    return truth


def _margin(deadline: float, share: float = 0.1, cap: float = 30.0) -> float:
    """The training loop's own deadline: time kept back for validation and writing the model."""
    left = max(0.0, deadline - time.monotonic())
    return deadline - min(cap, share * left)


@dataclass
class Reproduction:
    options: ReproduceOptions
    progress: Progress = QUIET
    studies: list = field(default_factory=list)
    pseudo: dict = field(default_factory=dict)         # training study id -> pseudo-label (uint8, CT grid)
    device: torch.device | None = None                 # set by run()

    def __post_init__(self):
        out = Path(self.options.out)
        self.out = out
        self.models = out / "models"
        self.work = out / "work"
        self.paths = {key: self.models / f"{name}.safetensors" for key, name in MODEL_NAMES.items()}
        self.scale = self.options.scale
        self.budget = PhaseBudget(self.options.minutes)

    # -- running ----------------------------------------------------------------------------------------------
    def run(self) -> dict:
        from ..devices import resolve_device
        from .report import build_report, write_report

        self.device = resolve_device(self.options.device)
        check_output_folder(self.out, self.options.overwrite)
        self.models.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        if self.device.type == "cuda":
            import torch

            torch.backends.cuda.matmul.allow_tf32 = True  # convolutions use TF32 by default already
        functions = {"data": self.phase_data, "bench": self.phase_bench, "classifier": self.phase_classifier,
                     "tune": self.phase_tune, "reducer": self.phase_reducer, "pseudo-label": self.phase_pseudo_label,
                     "segmenter": self.phase_segmenter, "finetune": self.phase_finetune,
                     "quality": self.phase_quality}
        phases = [Phase(name, self.scale.shares[name], functions[name]) for name in PHASES
                  if name in self.options.phases]

        def on_record(_records):
            write_report(build_report(self), self.out)

        try:
            self.budget.run(phases, on_record, self.progress)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        report = build_report(self)
        write_report(report, self.out)
        return report

    def _need(self, *keys: str) -> None:
        for key in keys:
            if not self.paths[key].exists():
                raise PhaseSkipped(f"needs the {MODEL_NAMES[key]} model, which an earlier phase did not make")

    # -- phases -----------------------------------------------------------------------------------------------
    def phase_data(self, deadline: float) -> dict:
        s = self.scale
        counts = {"train": s.train_studies, "finetune": s.finetune_studies, "tune": s.tune_studies}
        if self.options.data is not None:
            self.studies, summary = dataset_studies(self.options.data, counts)
            if not of_role(self.studies, "tune"):  # no voxel truth in the dataset: h is tuned on phantoms
                tune, made = make_phantoms({"tune": s.tune_studies}, s.slices, s.size, deadline,
                                           self.options.workers, self.progress)
                self.studies += tune
                summary["tune_phantoms"] = made
        else:
            self.studies, summary = make_phantoms(counts, s.slices, s.size, deadline, self.options.workers,
                                                  self.progress)
        if len(of_role(self.studies, "train")) < 2:
            raise IExplainError(f"only {len(of_role(self.studies, 'train'))} training studies were ready before "
                                "the data phase's time limit (give more --minutes or fewer --studies)")
        return summary

    def phase_bench(self, deadline: float) -> dict:
        """The attribution figures in the first 60 % of the share, the segmenter's in the rest (and whatever the
        attribution left). Both stop at their deadline with the parts they measured; a part out of memory is named
        under ``errors`` and the others kept (:mod:`IExplainLib.benchmarks.parts`)."""
        import json

        import torch

        from ..benchmarks import attribution, segmenter
        from ..outputs import write_text_atomic

        assert self.device is not None  # run() sets it before any phase
        s = self.scale
        settings = attribution.settings_for(self.device, quick=s.bench == "quick")
        if s.bench == "quick":  # this run's own classifier architecture: a quick bench of a small run stays small
            settings = replace(settings, backbone=s.backbone, input_size=s.input_size)
        now = time.monotonic()
        split = now + 0.6 * max(0.0, deadline - now)
        figures = {"attribution": _one_line_errors(lambda: attribution.run(device=str(self.device),
                                                                           settings=settings, deadline=split))}
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # the segmenter figures run in a child process: leave it the GPU's memory
        if time.monotonic() >= deadline:
            figures["segmenter"] = {"skipped": "the bench phase's time was spent on the attribution figures"}
        else:
            model = self._untrained_segmenter(self.work / "bench-segmenter.safetensors")
            figures["segmenter"] = _one_line_errors(lambda: segmenter.run(
                device=str(self.device), model=model, slices=s.bench_slices, size=s.bench_size, reference=False,
                threads=torch.get_num_threads(), deadline=deadline))
            figures["segmenter"]["model"] = "untrained network of this run's segmenter spec (time does not " \
                                            "depend on the weights)"
        partial = any("skipped" in block or "error" in block or "errors" in block or
                      (block.get("parts") or {}).get("skipped") or (block.get("parts") or {}).get("cut")
                      for block in figures.values())
        write_text_atomic(self.out / "bench.json", json.dumps(figures, indent=2) + "\n", overwrite=True)
        return {**figures, "partial": bool(partial)}

    def phase_classifier(self, deadline: float) -> dict:
        import os

        from ..classifier import ClassifierSpec, ClassifierTrainConfig, train_classifier
        from ..training import checkpoint_policy

        s = self.scale
        sources = [study.classifier_source() for study in of_role(self.studies, "train")]
        if len(sources) < 2:
            raise PhaseSkipped("needs at least 2 training studies")
        assert self.device is not None  # run() sets it before any phase
        cuda = self.device.type == "cuda"
        config = ClassifierTrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, warmup=s.warmup,
                                       val_fraction=0.2, seed=0, amp=True, channels_last=cuda,
                                       workers=min(8, (os.cpu_count() or 2) // 2) if cuda else 0)
        with checkpoint_policy("phase"):  # a checkpoint at the phase's end and on SIGTERM, none every epoch
            result = train_classifier(
                sources, self.paths["classifier"], ClassifierSpec(backbone=s.backbone, input_size=s.input_size),
                config, device=str(self.device), progress=self.progress, overwrite=True,
                checkpoint=self.work / "classifier.checkpoint.pt", cache_dir=self.work / "classifier-cache",
                deadline=_margin(deadline), command=self.options.command)
        shutil.rmtree(self.work / "classifier-cache", ignore_errors=True)
        limit = result["time_limit"] or {}
        return {"model": str(self.paths["classifier"]), "backbone": s.backbone, "input_size": s.input_size,
                "validation": result["metrics"], "steps": result["step"], "time_limit": limit,
                "train_studies": len(sources), "partial": bool(limit.get("stopped_by_deadline"))}

    def _evaluation_studies(self, role: str):
        from ..evaluation.study_sets import EvaluationStudy

        return [EvaluationStudy(study.id, study.load(), _truth_of(study), "phantom" if
                                study.origin.startswith("phantom") else "dataset")
                for study in of_role(self.studies, role) if study.has_truth]

    def _explain_overrides(self) -> dict:
        """The attribution preset, and rows per pass that fit the classifier's activations in memory."""
        from ..explain.presets import PRESETS

        return {**PRESETS[self.scale.preset],
                "batch_size": explain_batch_size(self.scale.backbone, self.scale.input_size)}

    def _params(self):
        from ..explain.params import params_for_model
        from ..modelfile import read_card

        return params_for_model(read_card(self.paths["classifier"]), overrides=self._explain_overrides())

    def phase_tune(self, deadline: float) -> dict:
        from ..evaluation.tuning_run import tune_threshold
        from .budget import cut_at
        from .quality_phase import StudyTimes

        self._need("classifier")
        studies = self._evaluation_studies("tune")
        if not studies:
            raise PhaseSkipped("no tuning studies with voxel truth")
        times = StudyTimes(self.progress)
        # a study in flight at the deadline is given up at its next window batch; h is chosen from the studies
        # measured before it (two at least, or the only one, with a true PE), else the card's h is kept
        with self._attribution_precision():
            result = tune_threshold(None, None, self.paths["classifier"], overrides=self._explain_overrides(),
                                    target_sensitivity=0.9, device=str(self.device), write_card=True,
                                    progress=times, deadline=deadline, given_studies=studies,
                                    guard=lambda: cut_at(deadline), min_studies=min(2, len(studies)))
        times.close()
        cut = {"cut_inside_study": result["cut_inside_study"]} if "cut_inside_study" in result else {}
        chosen = result["chosen"]
        if chosen is None:
            return {"high_threshold": None, **cut, "studies": result["studies"],
                    "message": f"h was not tuned: {result['not_tuned']}", "partial": True}
        return {"high_threshold": chosen["high_threshold"], "target_met": chosen["target_met"],
                "unfiltered": chosen["unfiltered"], "filtered": chosen["filtered"], "studies": result["studies"],
                "true_pes": result["true_pes"], "preset": self.scale.preset, **cut,
                "partial": result["studies"] < len(studies)}

    def phase_reducer(self, deadline: float) -> dict:
        from .reducer import train_reducer_phase

        training = [study for study in of_role(self.studies, "train") if study.slice_labels is not None]
        tuning = [study for study in of_role(self.studies, "tune") if study.has_truth]
        result = train_reducer_phase(training, tuning, self.scale, self.paths["reducer"], deadline,
                                     self.options.workers, self.options.command, self.progress)
        return {**result, "without_slice_labels": len(of_role(self.studies, "train")) - len(training)}

    def phase_pseudo_label(self, deadline: float) -> dict:
        """iExplain on the training studies. No study starts unless the longest so far would still fit; one in
        flight at the deadline is given up at its next window batch (:func:`~.budget.cut_at`), except the first,
        which may run to twice the share (the segmenter needs a label to learn from)."""
        from ..evaluation.finding_metrics import FindingScore, score_mask, truth_instances
        from ..explain.explainer import IExplainer
        from .budget import PhaseTimeUp, cut_at

        started = time.monotonic()
        self._need("classifier")
        assert self.device is not None  # run() sets it before any phase
        explainer = IExplainer(self.paths["classifier"], self._params(), self.device)
        training = of_role(self.studies, "train")
        score, scored = FindingScore(), 0
        seconds: list[float] = []
        cut = None
        for index, study in enumerate(training):
            if self.pseudo and time.monotonic() + max(seconds, default=0.0) >= deadline:
                break
            self.progress("pseudo-label", index / len(training), f"study {study.id}")
            begun = time.monotonic()
            volume = study.load()
            try:
                with cut_at(deadline if self.pseudo else deadline + max(0.0, deadline - started)), \
                        self._attribution_precision():
                    detection, explainer = _explain_fitting_memory(volume, explainer)
            except PhaseTimeUp:
                cut = study.id
                break
            label = (detection.labelmap.array > 0).astype(np.uint8)
            self.pseudo[study.id] = label
            seconds.append(time.monotonic() - begun)
            truth = study.load_truth() if study.has_truth else None
            if truth is not None:
                score = score + score_mask(label, *truth_instances(truth))
                scored += 1
        if not self.pseudo:
            raise IExplainError("no study was pseudo-labelled before the phase's time limit")
        return {"studies": len(self.pseudo), "of": len(training), "preset": self.scale.preset,
                "high_threshold": explainer.params.high_threshold,
                "rows_per_attribution_pass": explainer.params.batch_size,
                "attribution_precision": self._precision_name(),
                "seconds_per_study": round(float(np.mean(seconds)), 2),
                "positive_labels": sum(1 for label in self.pseudo.values() if label.any()),
                "scored_against_truth": scored, "score": score.as_dict() if scored else None,
                **({"cut_inside_study": cut} if cut else {}),
                "partial": len(self.pseudo) < len(training)}

    def _attribution_precision(self):
        """bf16 autocast for attribution on CUDA (its agreement with fp32 is measured by the bench's ``bf16``
        part); float32 elsewhere (a CPU without bf16 units runs it several times slower)."""
        import contextlib

        import torch

        if self.device is not None and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _precision_name(self) -> str:
        return "bf16 autocast" if self.device is not None and self.device.type == "cuda" else "float32"

    def _segmenter_spec(self):
        from ..segmenter.spec import SegmenterSpec

        s = self.scale
        return SegmenterSpec(filters=s.filters, patch_size=s.patch_size, inplane_spacing_mm=s.inplane_spacing_mm)

    def _untrained_segmenter(self, path: Path) -> Path:
        from ..modelfile import save_model
        from ..segmenter.spec import ARCHITECTURE, build_network, portable_state_dict

        spec = self._segmenter_spec()
        return save_model(path, portable_state_dict(build_network(spec)),
                          {"kind": "segmenter", "architecture": ARCHITECTURE, "spec": spec.to_card()}, overwrite=True)

    def _train(self, key: str, arrays, spec, config, card: dict, deadline: float, init_state=None) -> dict:
        from ..modelfile import read_card
        from ..segmenter.train import train_segmenter
        from ..training import checkpoint_policy

        with checkpoint_policy("phase"):
            train_segmenter(arrays, spec, config, self.paths[key], card=card, init_state=init_state,
                            checkpoint=self.work / f"{key}.checkpoint.pt", device=str(self.device),
                            progress=self.progress, overwrite=True, deadline=_margin(deadline))
        training = read_card(self.paths[key])["training"]
        limit = training.get("time_limit", {})
        return {"model": str(self.paths[key]), "iterations": limit.get("steps", training["iterations"]),
                "planned_iterations": training["iterations"], "stopped_by_deadline": limit.get("stopped_by_deadline"),
                "final_training_loss": read_card(self.paths[key])["metrics"]["final_training_loss"],
                "seconds": training["seconds_this_run"]}

    def phase_segmenter(self, deadline: float) -> dict:
        from ..segmenter.data import training_arrays
        from ..segmenter.train import TrainConfig

        if not self.pseudo:
            raise PhaseSkipped("needs pseudo-labels, which the pseudo-label phase did not make")
        s = self.scale
        spec = self._segmenter_spec()
        by_id = {study.id: study for study in self.studies}
        arrays = [training_arrays(case_id, by_id[case_id].load(), label, spec, seed=index)
                  for index, (case_id, label) in enumerate(self.pseudo.items())]
        config = TrainConfig(iterations=s.segmenter_iterations, batch_size=s.segmenter_batch, lr=s.segmenter_lr,
                             warmup=s.segmenter_warmup, checkpoint_every=10 ** 9)
        card = {"training": {"data": {"cases": len(arrays), "label_source": "iExplain pseudo-labels (reproduce)",
                                      "case_ids": list(self.pseudo)[:200]},
                             "command": self.options.command}}
        result = self._train("wsl", arrays, spec, config, card, deadline)
        return {**result, "cases": len(arrays), "partial": bool(result["stopped_by_deadline"])}

    def phase_finetune(self, deadline: float) -> dict:
        from ..segmenter.data import training_arrays
        from ..segmenter.finetune import finetune_config, starting_point

        self._need("wsl")
        corrected = [study for study in of_role(self.studies, "finetune") if study.has_truth]
        if not corrected:
            raise PhaseSkipped("no finetuning studies with voxel truth (a dataset without voxel labels)")
        s = self.scale
        spec, state, provenance = starting_point(str(self.paths["wsl"]))
        arrays = [training_arrays(study.id, study.load(), (_truth_of(study) > 0).astype(np.uint8), spec,
                                  seed=index) for index, study in enumerate(corrected)]
        config = finetune_config(iterations=s.finetune_iterations, lr=s.finetune_lr, warmup=s.finetune_warmup,
                                 batch_size=s.segmenter_batch, checkpoint_every=10 ** 9)
        data = {"cases": len(arrays), "label_source": "voxel truth", "case_ids": [a.case_id for a in arrays]}
        halfway = time.monotonic() + (deadline - time.monotonic()) / 2  # both runs get the same time
        finetuned = self._train("finetuned", arrays, spec, config, {"training": {**provenance, "data": data}},
                                halfway, init_state=state)
        scratch = self._train("scratch", arrays, spec, config, {"training": {"init": "random", "data": data}},
                              deadline)
        return {"cases": len(arrays), "finetuned": finetuned, "random_init": scratch,
                "partial": bool(finetuned["stopped_by_deadline"] or scratch["stopped_by_deadline"])}

    def phase_quality(self, deadline: float) -> dict:
        """The run's models on the held-out sets, then the bundled ones on the sets the run's were scored on, each
        set under the share's deadline (:mod:`.quality_phase`); ends with the decision bundled vs new."""
        from ..evaluation.candidate_quality import candidates_markdown
        from ..evaluation.quality_report import format_markdown, write_quality_report
        from ..evaluation.quality_sets import RealCT, quality_sets
        from ..outputs import write_text_atomic
        from .quality_phase import CUT, TIME_SPENT, StudyTimes, decide, figure_of

        pipeline = all(self.paths[key].exists() for key in ("classifier", "wsl"))
        reducer = self.paths["reducer"].exists()
        if not pipeline and not reducer:
            raise PhaseSkipped("needs the classifier and WSL segmenter models or the reducer, which earlier phases "
                               "did not make")
        quick = self.scale.quality_quick
        real_ct = RealCT(self.options.real_ct)  # read once for every method
        names = [item.name for item in quality_sets(quick)]
        times = StudyTimes(self.progress)
        # iExplain and the WSL segmenter, the bundled pair, the Table 5 segmenters, the candidate detector and the
        # bundled one: each step's share of what is left when it starts (time a step leaves passes on)
        compare = self.options.compare_bundled
        shares = {**({"pipeline": 0.35, "bundled": 0.2 if compare else 0.0, "table5": 0.1} if pipeline else {}),
                  **({"candidates": 0.2, "bundled_candidates": 0.15 if compare else 0.0} if reducer else {})}

        def step_deadline(step: str) -> float:
            now, left = time.monotonic(), list(shares)[list(shares).index(step):]
            return now + max(0.0, deadline - now) * shares[step] / sum(shares[name] for name in left)

        report: dict = {"format": "iexplain-quality", "version": 1, "quick": quick, "sets": []}
        table5: dict = {}
        new: dict = {}
        bundled: dict = {}
        reasons: dict = {}
        if pipeline:
            merged = self._pipeline_quality(self.paths["classifier"], self.paths["wsl"], self._params(), names,
                                            real_ct, step_deadline("pipeline"), times)
            pipeline = merged is not None
            report = merged or report
            scored = [item["name"] for item in report["sets"] if not item["skipped"]]
            for model in ("classifier", "wsl-segmenter"):
                new[model] = {item["name"]: figure_of(model, item) for item in report["sets"] if not item["skipped"]}
            if pipeline:
                write_quality_report(report, self.out / "quality.json", self.out / "quality.md", overwrite=True)
            figures, reasons["classifier"] = (self._bundled_pipeline_quality(scored, real_ct, step_deadline("bundled"),
                                                                              times) if compare else ({}, NOT_ASKED))
            reasons["wsl-segmenter"] = reasons["classifier"]
            for model in ("classifier", "wsl-segmenter"):
                bundled[model] = {name: figure_of(model, block) for name, block in figures.items()}
            table5 = self._table5_quality(quick, real_ct, names, step_deadline("table5"), times)
        failed = None
        if reducer:
            try:
                report["candidates"] = self._score_candidates(quick, real_ct, names, step_deadline("candidates"),
                                                              times)
                new["reducer"] = {name: figure_of("reducer", block)
                                  for name, block in report["candidates"]["sets"].items() if "skipped" not in block}
                figures, reasons["reducer"] = self._bundled_candidates(
                    [name for name, block in report["candidates"]["sets"].items() if "skipped" not in block],
                    quick, real_ct, step_deadline("bundled_candidates"), times) if compare else ({}, NOT_ASKED)
                bundled["reducer"] = {name: figure_of("reducer", block) for name, block in figures.items()}
            except Exception as error:  # the other methods' figures must not be lost to it
                failed = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                report["candidates"] = {"skipped": f"the candidate detector failed: {failed}"}
        else:
            report["candidates"] = {"skipped": NO_REDUCER}
        markdown = (format_markdown(report).splitlines() if pipeline else
                    ["# IExplain quality report (held-out sets, seeds >= 9000)", ""])
        markdown += [""] + (candidates_markdown(report["candidates"]) if "sets" in report["candidates"] else
                            ["## Candidates + false-positive reducer", "",
                             f"Skipped: {report['candidates']['skipped']}.", ""])
        write_quality_report(report, self.out / "quality.json", None, overwrite=True)
        write_text_atomic(self.out / "quality.md", "\n".join(markdown) + "\n", overwrite=True)
        expected = {item.name: item.studies for item in quality_sets(quick)}
        sets = self._quality_sets(report, table5, expected, None if pipeline else
                                  "needs the classifier and WSL segmenter models, which earlier phases did not make")
        blocks = [block for item in sets.values()
                  for block in (item, *(item.get(n) or {} for n in (*table5, "candidates")))]
        cut = any(block.get("skipped") in (TIME_SPENT, CUT) or block.get("partial") for block in blocks) \
            or bool(failed)
        candidates = report["candidates"]
        return {"quick_sets": quick, "report": "quality.json", "runtime_s": report.get("runtime_s"), "sets": sets,
                "candidates": ({"skipped": candidates["skipped"]} if "skipped" in candidates else
                               {"model": candidates["model"], "seconds": candidates["seconds"]}),
                "study_seconds_longest": round(times.longest(), 2),
                "decision": decide(new, bundled, {k: v for k, v in reasons.items() if v}), "partial": cut}

    def _pipeline_quality(self, classifier: Path, segmenter: Path, params, names, real_ct, deadline: float,
                          times) -> dict | None:
        """``run_quality`` of a classifier and segmenter, set by set inside ``deadline`` (merged; None: no set
        scored)."""
        from ..evaluation.quality_run import run_quality
        from .budget import cut_at
        from .quality_phase import merge_quality_reports, per_set

        def score(name: str, soft: float) -> dict:  # a study cut at the deadline: the set keeps those before it
            with self._attribution_precision():
                return run_quality(classifier, segmenter, quick=self.scale.quality_quick, params=params,
                                   real_ct_root=real_ct, device=str(self.device), progress=times, deadline=soft,
                                   only_sets=[name], guard=lambda: cut_at(deadline))

        reports, missing = per_set(score, names, deadline, times)
        return merge_quality_reports(reports, missing)

    def _bundled_pipeline_quality(self, names, real_ct, deadline: float, times) -> tuple[dict, str]:
        """The bundled classifier (its own h, this run's attribution preset) and segmenter on ``names``:
        ({set: summary}, why some were not scored)."""
        from ..explain.params import params_for_model
        from ..modelfile import bundled_model, read_card
        from .quality_phase import BUNDLED

        classifier, segmenter = bundled_model(BUNDLED["classifier"]), bundled_model(BUNDLED["wsl-segmenter"])
        if not (classifier.exists() and segmenter.exists()):
            return {}, f"no bundled {classifier.stem} or {segmenter.stem} in {classifier.parent}"
        params = params_for_model(read_card(classifier), overrides=self._explain_overrides())
        merged = self._pipeline_quality(classifier, segmenter, params, names, real_ct, deadline, times)
        sets = {item["name"]: item for item in (merged or {}).get("sets", []) if not item["skipped"]}
        return sets, "" if len(sets) == len(names) else "the bundled models' share of the phase ran out"

    def _table5_quality(self, quick: bool, real_ct, names, deadline: float, times) -> dict:
        """The finetuned and random-init segmenters on the quality sets (Table 5), cut at ``deadline`` inside a
        study (the studies scored before it are kept)."""
        from ..evaluation.quality_run import score_segmenters
        from .budget import PhaseTimeUp, cut_at
        from .quality_phase import CUT

        others = {name: self.paths[key] for name, key in (("finetuned", "finetuned"), ("random_init", "scratch"))
                  if self.paths[key].exists()}
        if not others:
            return {}
        try:
            with cut_at(deadline):  # the guard cuts a study; this, anything else past the deadline
                return score_segmenters(others, quick=quick, real_ct_root=real_ct, device=str(self.device),
                                        progress=times, deadline=deadline - times.longest(),
                                        guard=lambda: cut_at(deadline))
        except PhaseTimeUp:
            return {name: {item: {"skipped": CUT} for item in names} for name in others}
        finally:
            times.close()

    def _score_candidates(self, quick: bool, real_ct, names, deadline: float, times) -> dict:
        """The candidate detector with this run's reducer on the quality sets, as ``iexplain quality`` scores it."""
        from ..candidates.detector import CandidateDetector
        from ..evaluation.quality_run import _model_entry

        detector = CandidateDetector(self.paths["reducer"])
        started = time.monotonic()
        figures = self._candidates_per_set(detector, quick, real_ct, names, deadline, times)
        return {"model": _model_entry(self.paths["reducer"], detector.card, detector.threshold), "sets": figures,
                "seconds": round(time.monotonic() - started, 1)}

    def _bundled_candidates(self, names, quick: bool, real_ct, deadline: float, times) -> tuple[dict, str]:
        from ..candidates.detector import CandidateDetector
        from ..modelfile import bundled_model
        from .quality_phase import BUNDLED

        path = bundled_model(BUNDLED["reducer"])
        if not path.exists():
            return {}, f"no bundled {path.stem} in {path.parent}"
        figures = self._candidates_per_set(CandidateDetector(path), quick, real_ct, names, deadline, times)
        sets = {name: block for name, block in figures.items() if "skipped" not in block}
        return sets, "" if len(sets) == len(names) else "the bundled reducer's share of the phase ran out"

    def _candidates_per_set(self, detector, quick: bool, real_ct, names, deadline: float, times) -> dict:
        from ..evaluation.candidate_quality import score_candidate_detector
        from .quality_phase import per_set

        figures, missing = per_set(lambda name, soft: score_candidate_detector(
            detector, quick, real_ct, times, deadline=soft, only_sets=[name])[name], names, deadline, times)
        return {name: figures.get(name) or {"skipped": missing[name]} for name in names}

    @staticmethod
    def _quality_sets(report: dict, table5: dict, expected: dict[str, int], no_pipeline: str | None) -> dict:
        """Each set's row of the reproduce report: slice AUROC / F1, iExplain, the WSL segmenter, the Table 5
        segmenters and the candidate detector (or why each was skipped)."""
        candidates = report["candidates"]
        scored = candidates.get("sets") or {}
        pipeline_sets = {item["name"]: item for item in report["sets"]}
        sets = {}
        for name in pipeline_sets or scored:
            item = pipeline_sets.get(name)
            block = scored.get(name) or {"skipped": candidates.get("skipped", "not scored")}
            if "skipped" not in block:
                block = {key: block[key] for key in ("threshold", "studies", "negative_studies", "true_pes", "strict",
                                                     "intersection", "froc", "by_calibre", "fp_per_negative_study",
                                                     "candidates_per_study", "seconds_per_study")}
                block["partial"] = block["studies"] < expected.get(name, 0)
            reason = no_pipeline if item is None else item["skipped"]
            if not reason:
                assert item is not None
                sets[name] = {"studies": item["studies"], "partial": item.get("partial", False),
                              "slice": {k: item["slice"].get(k) for k in ("auroc", "f1")},
                              "iexplain": item["iexplain"]["shipped"], "wsl_segmenter": item["segmenter"],
                              **{n: table5[n].get(name) for n in table5}, "candidates": block}
            elif "skipped" in block:
                sets[name] = {"skipped": reason}
            else:  # iExplain was not scored on this set, the candidate detector was
                sets[name] = {"studies": block["studies"], "partial": block["partial"],
                              "slice": {"auroc": None, "f1": None},
                              "iexplain": {"skipped": reason}, "wsl_segmenter": {"skipped": reason},
                              "candidates": block}
        return sets
