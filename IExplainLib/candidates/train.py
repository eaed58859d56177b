"""Training a false-positive reducer: candidates of every training study (slice labels only), multiple-instance
training, a score threshold chosen on tuning studies, and the model file with its card.

The training studies reach :func:`train_reducer` as :class:`StudyCandidates`, which hold no voxel truth. The
threshold is the one place truth is used, and only that of the *tuning* studies (phantom seeds 8000-8999, as every
other threshold of the project): it picks the score of the best strict finding F1 there.

:class:`ReducerTraining` is the loop of ``mil.MILTraining`` (the reducer's hooks of the training skeleton) with the
threshold and the card: the skeleton refuses an existing model, removes what a killed run left, keeps a time limit
(``deadline``) and writes the model file, as it does for the classifier and the segmenter.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .. import __version__
from ..errors import InputError
from ..evaluation.froc import FROC_RATES, ScoredStudy, best_f1_threshold, froc_points, sensitivity_by_calibre
from . import proposals
from .detector import MODEL_KIND
from .mil import SUPERVISIONS, MILSettings, MILTraining, score_study
from .reducer import REDUCERS, build_reducer
from .training_data import STUDY_FEATURE_NAMES, StudyCandidates


# the bag's score as the log-mean-exp of its candidates' logits at this sharpness: real anatomy's tuning sensitivity
# at 2 false findings a study 0.77 -> 0.89 against the maximum (experiment 24e)
BAG_SHARPNESS = 0.5


@dataclass(frozen=True)
class ReducerTrainConfig:
    # the hand features' MLP beat the patch CNN at a seventieth of its CPU (experiment 21d); with the rings around
    # each candidate it ranks better still (experiment 23d)
    architecture: str = "rings-mlp"
    supervision: str = "mil"
    epochs: int = 150                   # the best of 30-400 on the tuning studies (experiment 22)
    lr: float = 2e-3
    seed: int = 0
    width: int = 16
    use_features: bool = True
    bag_min_pe_share: float = 1.0   # MIL: bag members lie within PE slices (experiment 18)
    bag_leak: float = 0.5           # MIL: a bag's embolus may be among no candidate (experiment 21)
    bag_sharpness: float | None = BAG_SHARPNESS  # MIL: a bag's soft maximum (None: the maximum; experiment 24e)

    def __post_init__(self):
        if self.architecture not in REDUCERS:
            raise InputError(f"unknown reducer architecture {self.architecture!r}: choose {', '.join(REDUCERS)}")
        if self.supervision not in SUPERVISIONS:
            raise InputError(f"unknown supervision {self.supervision!r}: choose {', '.join(SUPERVISIONS)}")
        if self.epochs < 1 or not 0 < self.lr < 1 or self.width < 1:
            raise InputError("--epochs and --width must be >= 1 and --lr in (0, 1)")
        if not 0.0 <= self.bag_min_pe_share <= 1.0:
            raise InputError("--bag-min-pe-share must be in [0, 1]")
        if not 0.0 <= self.bag_leak < 1.0:
            raise InputError("--bag-leak must be in [0, 1)")
        if self.bag_sharpness is not None and not 0 < self.bag_sharpness < float("inf"):
            raise InputError("--bag-sharpness must be a positive number or 'max'")

    def model_options(self) -> dict:
        if self.architecture == "patch-cnn":
            return {"width": self.width, "use_features": self.use_features}
        return {}

    def mil(self) -> MILSettings:
        """The training loop's settings."""
        return MILSettings(self.supervision, self.epochs, self.lr, self.seed, self.bag_min_pe_share, self.bag_leak,
                           self.bag_sharpness)


@dataclass
class TuningStudy:
    """A tuning study: its candidates (what the model scores) and their truth (what the threshold is chosen on)."""

    candidates: StudyCandidates
    truth: ScoredStudy


def tuning_study(case_id: str, volume, slice_labels, truth, true_count: int | None = None,
                 calibres: list[str] | None = None) -> TuningStudy:
    """A tuning study's candidates and, for choosing the threshold only, which of them touch which embolus.

    ``truth``: the study's embolus mask; instances ``1..true_count`` when ``true_count`` is given (a phantom's truth
    with its emboli list), else read by ``truth_instances``. ``calibres``: each embolus's calibre class (default:
    measured on the CT by the candidates' own rule). The candidates themselves are found from the CT alone."""
    from ..evaluation.finding_metrics import truth_instances
    from .training_data import study_candidates

    candidates = proposals.find_candidates(volume)
    data = study_candidates(case_id, volume, candidates, slice_labels)
    if true_count is None:
        truth, true_count = truth_instances(truth)
    if calibres is None:
        calibres = proposals.embolus_calibres(np.asarray(volume.array), truth, true_count, volume.spacing)
    return TuningStudy(data, ScoredStudy.from_labels(candidates.labels, np.zeros(len(candidates)), truth, true_count,
                                                     calibres))


def tuning_report(model, tuning: list[TuningStudy]) -> tuple[float, dict]:
    """The threshold of the best strict F1 on ``tuning`` and the figures there (FROC points, per-calibre)."""
    scored = [ScoredStudy(score_study(model, t.candidates), t.truth.truth_share, t.truth.emboli, t.truth.calibres)
              for t in tuning]
    threshold, counts = best_f1_threshold(scored)
    return threshold, {"studies": len(tuning), "threshold": round(threshold, 4), **counts.as_dict(),
                       "froc": froc_points(scored, FROC_RATES),
                       "by_calibre": sensitivity_by_calibre(scored, threshold)}


class ReducerTraining(MILTraining):
    """A reducer model file: the seeded network trained by ``MILTraining``'s loop, then the threshold (``threshold``,
    else the tuning studies' best strict F1, else 0.5) and the card."""

    def __init__(self, studies: list[StudyCandidates], config: ReducerTrainConfig, out: str | Path, *,
                 tuning: list[TuningStudy] | None = None, threshold: float | None = None, data: dict | None = None,
                 command: str = "", log: Callable[[str], None] | None = None, **run: Any):
        self.begun = time.time()
        torch.manual_seed(config.seed)  # the initial weights too: the same command makes the same model
        model = build_reducer(config.architecture, **config.model_options())
        super().__init__(model, studies, config.mil(), out, log, **run)
        self.reducer_config, self.all_studies = config, studies
        self.tuning, self.threshold, self.data, self.command = tuning, threshold, data, command

    def card(self) -> dict:
        config, studies = self.reducer_config, self.all_studies
        threshold, tuning_figures = self.threshold, None
        if threshold is None and self.tuning:
            threshold, tuning_figures = tuning_report(self.model, self.tuning)
        threshold = 0.5 if threshold is None else float(threshold)
        positives = sum(1 for s in studies if not s.negative)
        return {
            "kind": MODEL_KIND,
            "architecture": f"iexplain.reducer.{config.architecture}",
            "iexplain_version": __version__,
            "description": "false-positive reducer of candidate filling defects (iexplain detect --method candidates)",
            "license": "Apache-2.0",
            "threshold": round(threshold, 4),
            "reducer": {"architecture": config.architecture, "options": config.model_options(),
                        "features": list(STUDY_FEATURE_NAMES[:int(getattr(self.model, "inputs"))])},
            "candidates": {"min_mm3": proposals.MIN_CANDIDATE_MM3, "max_mm3": proposals.MAX_CANDIDATE_MM3,
                           "min_lumen_share": proposals.MIN_LUMEN_SHARE, "calibre_min_radius_mm":
                           proposals.CALIBRE_MIN_RADIUS_MM, "rule": proposals.DEFAULT_RULE.as_dict()},
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "training": {"supervision": f"slice labels only ({config.supervision})", "config": asdict(config),
                         "data": {**(self.data or {}), "studies": len(studies), "positive_studies": positives,
                                  "candidates": int(sum(len(s) for s in studies))},
                         "command": self.command, **self.run_facts(), "seconds": round(time.time() - self.begun, 1)},
            "metrics": {"tuning": tuning_figures} if tuning_figures else {},
        }


def train_reducer(studies: list[StudyCandidates], config: ReducerTrainConfig, out: str | Path, *,
                  tuning: list[TuningStudy] | None = None, threshold: float | None = None,
                  data: dict | None = None, command: str = "", overwrite: bool = False,
                  log: Callable[[str], None] | None = None, deadline: float | None = None) -> Path:
    """Train, choose the threshold (``threshold``, else the tuning studies' best F1, else 0.5), write the model.
    ``deadline`` (a ``time.monotonic()`` value): the epochs are cut to what fits before it, and the card says so."""
    run = ReducerTraining(studies, config, out, tuning=tuning, threshold=threshold, data=data, command=command,
                          log=log, overwrite=overwrite, deadline=deadline)
    run.run()
    return run.weights


def study_candidates_cached(cache: Path | None, case_id: str, make: Callable[[], StudyCandidates]) -> StudyCandidates:
    """``make()``'s study, kept in ``cache/<case_id>.npz`` (written atomically) when a cache folder is given."""
    if cache is None:
        return make()
    path = cache / f"{case_id}.npz"
    if path.exists():
        return StudyCandidates.load(path)
    study = make()
    temporary = path.with_suffix(".partial.npz")
    study.save(temporary)
    temporary.replace(path)
    return study


def check_cache_rule(cache: Path) -> None:
    """A cache folder keeps the candidates of one rule and feature set: the first use records both in ``rule.json``;
    a folder of another rule or feature set, or of a version that recorded none, is refused rather than mixed in."""
    import json

    cache.mkdir(parents=True, exist_ok=True)
    marker = cache / "rule.json"
    wanted = {**proposals.DEFAULT_RULE.as_dict(), "features": list(STUDY_FEATURE_NAMES)}
    if marker.exists():
        try:
            found = json.loads(marker.read_text())
        except ValueError as error:
            raise InputError(f"{marker}: not a candidate rule ({error}); give a new --cache folder") from error
        try:
            same = (proposals.CandidateRule.from_dict(found) == proposals.DEFAULT_RULE
                    and found.get("features") == wanted["features"])
        except (ValueError, AttributeError):
            same = False
        if not same:
            raise InputError(f"cache {cache} holds candidates of another rule ({found}, this version: {wanted}); "
                             "give a new --cache folder")
    elif any(cache.glob("*.npz")):
        raise InputError(f"cache {cache} holds candidates of an earlier version that recorded no rule; give a new "
                         "--cache folder")
    else:
        temporary = marker.with_suffix(".partial")
        temporary.write_text(json.dumps(wanted))
        temporary.replace(marker)


def check_training_studies(studies: list[StudyCandidates]) -> None:
    if not any(len(s) for s in studies):
        raise InputError("no training study has any candidate filling defect (are these CT angiograms?)")
    if not any(s.slice_labels.any() for s in studies):
        raise InputError("no training study has a PE slice: the reducer needs PE-positive studies to learn from")
    if not any((~s.slice_labels).any() for s in studies):
        raise InputError("no PE-negative slice in the training studies: the reducer needs negatives")
