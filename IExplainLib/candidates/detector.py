"""``CandidateDetector``: candidate defects from the CT, scored by a trained reducer, kept above a threshold.

A detector is an object in Captum's manner: the model is loaded and checked once in ``__init__``, and
:meth:`CandidateDetector.explain` does a study's work and returns a :class:`~IExplainLib.detection.Detection`, the
same result object as iExplain's and the segmenter's. Its labelmap has one value per kept finding (1 = the highest
score), its map is the score painted on each candidate's voxels (every candidate, kept or not, so that a threshold
chosen later in Slicer can be shown on the same file), and each findings row carries score, calibre class, volume,
contrast and position. A CT that is no angiogram (``contrast_check``) has no candidates: ``detect`` warns.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..detection import Detection
from ..errors import ModelFileError
from ..volume import Volume
from .proposals import SESSION17_RULE, CandidateRule, CandidateSet, find_candidates
from .training_data import study_candidates

MODEL_KIND = "reducer"


def load_reducer(path: str | Path):
    """``(model, card)`` of a reducer model file (safetensors + card)."""
    from ..modelfile import load_model_file, load_state_into
    from .reducer import REDUCERS, build_reducer

    state, card = load_model_file(path, expected_kind=MODEL_KIND)
    section = card.get("reducer")
    if not isinstance(section, dict) or section.get("architecture") not in REDUCERS:
        raise ModelFileError(f"{path}: model card field 'reducer.architecture' must be one of {', '.join(REDUCERS)}")
    options = section.get("options", {})
    if not isinstance(options, dict):
        raise ModelFileError(f"{path}: model card field 'reducer.options' must be a JSON object")
    try:
        model = build_reducer(section["architecture"], **options)
    except TypeError as error:
        raise ModelFileError(f"{path}: model card field 'reducer.options' is invalid: {error}") from error
    load_state_into(model, state, path)
    model.eval()
    return model, card


def candidate_rule(card: dict, path: str | Path = "model card") -> CandidateRule:
    """The candidate rule a reducer was trained on (its card's ``candidates.rule``; a card from before the rule was
    recorded: the rule of that time, ``SESSION17_RULE``)."""
    section = card.get("candidates", {})
    rule = section.get("rule") if isinstance(section, dict) else None
    if rule is None:
        return SESSION17_RULE
    if not isinstance(rule, dict):
        raise ModelFileError(f"{path}: model card field 'candidates.rule' must be a JSON object, found {rule!r}")
    try:
        return CandidateRule.from_dict(rule)
    except ValueError as error:
        raise ModelFileError(f"{path}: model card field 'candidates.rule': {error}") from error


class CandidateDetector:
    """Candidates from the CT (by the rule the reducer was trained on), scored by the reducer at ``model`` and kept at
    or above ``threshold`` (default: the threshold of its card, chosen on tuning seeds)."""

    def __init__(self, model: str | Path, threshold: float | None = None):
        self.model_path = Path(model)
        self.model, self.card = load_reducer(model)
        self.rule = candidate_rule(self.card, model)
        self.threshold = float(self.card["threshold"] if threshold is None else threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"the score threshold must be in [0, 1], got {self.threshold}")

    def score(self, volume: Volume):
        """``(candidates, scores)`` of every candidate of ``volume``; none in a CT that the contrast check finds is
        no angiogram (every vessel there is at clot density: a defect cannot be told from its artery)."""
        from ..contrast_check import check_contrast
        from .mil import score_study

        if check_contrast(volume).is_angiogram is False:
            return CandidateSet(np.zeros(volume.shape, np.int32)), np.zeros(0, np.float32)
        candidates = find_candidates(volume, rule=self.rule)
        data = study_candidates("study", volume, candidates, np.zeros(volume.shape[0], bool))
        return candidates, score_study(self.model, data)

    def explain(self, volume: Volume, progress=None) -> Detection:
        started = time.time()
        if progress is not None:
            progress("candidates", 0.0, "finding candidate filling defects")
        candidates, scores = self.score(volume)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= self.threshold]
        labelmap = candidates.mask_of(order)
        score_map = np.zeros(len(candidates) + 1, np.float32)
        score_map[1:] = scores
        findings = []
        for rank, index in enumerate(order, start=1):
            row = {"finding": rank, "score": round(float(scores[index]), 4)}
            row.update(candidates.candidates[index].as_row(volume))
            findings.append(row)
        summary = {"candidates": len(candidates), "kept": len(order), "threshold": self.threshold,
                   "seconds": round(time.time() - started, 2)}
        if progress is not None:
            progress("candidates", 1.0, f"{len(order)} of {len(candidates)} candidates kept")
        return Detection(labelmap=volume.with_array(labelmap), heat=volume.with_array(candidates.paint(score_map)),
                         iterations=len(order), findings=findings, summary=summary, method="candidates")
