"""A cut inside one study (issue 25): ``run_quality``, ``score_segmenters`` and ``tune_threshold`` run every study
inside their ``guard``; a study cut there (at its next network call, as ``reproduce.budget.cut_at`` does at a
phase's deadline) is given up alone, and the studies finished before it are kept."""

import json
from contextlib import nullcontext

import torch

from IExplainLib.evaluation.quality_run import CUT, TIME_SPENT, run_quality, score_segmenters
from IExplainLib.evaluation.study_sets import EvaluationStudy
from IExplainLib.evaluation.tuning_run import tune_threshold
from IExplainLib.modelfile import model_paths
from IExplainLib.reproduce.budget import cut_at
from .test_quality import save_tiny_segmenter
from .tiny_model import save_tiny_classifier

FAST = {"n_steps": 2, "references": ("zero",), "smoothgrad_samples": 1}


class CutStudy:
    """A guard that lets the first ``let`` studies run and cuts the next one at its first network call (its
    deadline has passed: ``cut_at`` with a deadline of 0), as a phase's share ending inside that study does."""

    def __init__(self, let: int):
        self.let, self.entered = let, 0

    def __call__(self):
        self.entered += 1
        return nullcontext() if self.entered <= self.let else cut_at(0.0)


def _params(classifier):
    from IExplainLib.explain.params import params_for_model
    from IExplainLib.modelfile import read_card

    return params_for_model(read_card(classifier), overrides=FAST)


def _without_seconds(row: dict) -> dict:
    row = json.loads(json.dumps(row))
    for method in ("iexplain", "segmenter"):
        row[method].pop("seconds")
    return row


def test_a_quality_set_cut_inside_a_study_keeps_the_studies_finished_and_starts_nothing_after(tmp_path):
    classifier, segmenter = save_tiny_classifier(tmp_path), save_tiny_segmenter(tmp_path)
    common = dict(quick=True, params=_params(classifier), real_ct_root="/none", device="cpu")
    whole = run_quality(classifier, segmenter, only_sets=["synthetic"], **common)
    guard = CutStudy(let=1)
    cut = run_quality(classifier, segmenter, only_sets=["synthetic", "negative"], guard=guard, **common)
    sets = {item["name"]: item for item in cut["sets"]}
    synthetic = sets["synthetic"]
    assert guard.entered == 2                                      # the second study was started, then cut
    assert synthetic["studies"] == 1 and synthetic["partial"] and synthetic["cut_inside_study"] == "phantom-9304"
    first = whole["sets"][0]["per_study"][0]
    assert [_without_seconds(row) for row in synthetic["per_study"]] == [_without_seconds(first)]
    assert sets["negative"]["skipped"] == TIME_SPENT                # nothing started after the cut
    torch.nn.Linear(2, 1)(torch.rand(1, 2))                        # the guard's hook is gone

    at_first = run_quality(classifier, segmenter, only_sets=["negative"], guard=CutStudy(let=0), **common)
    assert {item["name"]: item["skipped"] for item in at_first["sets"]}["negative"] == CUT


def test_segmenters_cut_inside_a_study_keep_what_was_scored_on_the_same_studies(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    segmenters = {"finetuned": save_tiny_segmenter(first), "random_init": save_tiny_segmenter(second)}
    whole = score_segmenters(segmenters, quick=True, real_ct_root="/none", device="cpu")
    cut = score_segmenters(segmenters, quick=True, real_ct_root="/none", device="cpu", guard=CutStudy(let=1))
    for name in segmenters:
        synthetic = cut[name]["synthetic"]
        # one study of the two kept, for both segmenters (compared on the same studies); what it scored is kept
        assert synthetic["studies"] == 1 and synthetic["partial"] and synthetic["cut_inside_study"] == "phantom-9304"
        kept = {key: value for key, value in synthetic.items()
                if key not in ("studies", "partial", "cut_inside_study", "fp_per_negative_study")}
        assert kept == _alone(segmenters[name], "phantom-9300")       # the figures of the study scored first
        assert synthetic["fp_per_negative_study"] is None            # the PE-negative study was the one cut
        assert cut[name]["negative"] == {"skipped": TIME_SPENT}
        assert "skipped" in cut[name]["real-anatomy"]                         # no real CT given
    assert whole["finetuned"]["synthetic"]["studies"] == 2


def _alone(segmenter, case: str) -> dict:
    """One segmenter's figures on one quick synthetic study, scored by hand."""
    from IExplainLib.evaluation.finding_metrics import score_mask, truth_instances
    from IExplainLib.evaluation.quality_sets import QUICK_SETS, RealCT, set_studies
    from IExplainLib.segmenter.inference import Segmenter
    from IExplainLib.study_step import StudyStep

    study = next(s for s in set_studies(QUICK_SETS[0], RealCT("/none")) if s.case_id == case)
    mask = StudyStep(Segmenter(segmenter, device="cpu"), segmenter)(None, volume=study.volume).detection
    return score_mask(mask.labelmap.array > 0, *truth_instances(study.truth)).as_dict()


def _tuning_studies(count: int) -> list[EvaluationStudy]:
    from IExplainLib.phantoms import make_study

    studies = []
    for seed in range(8000, 8000 + count):
        study = make_study(seed, slices=8, size=64)
        studies.append(EvaluationStudy(f"phantom-{seed}", study.volume, study.truth, "phantom", seed))
    return studies


def test_tuning_cut_inside_a_study_chooses_h_from_the_studies_measured_when_enough(tmp_path):
    classifier = save_tiny_classifier(tmp_path)
    card = model_paths(classifier)[1]
    studies = _tuning_studies(3)
    common = dict(overrides=FAST, device="cpu", grid_text="1,2,4")
    alone = tune_threshold(None, None, classifier, given_studies=studies[:2], write_card=False, **common)
    cut = tune_threshold(None, None, classifier, given_studies=studies, guard=CutStudy(let=2), min_studies=2,
                         **common)
    assert cut["studies"] == 2 and cut["cut_inside_study"] == "phantom-8002" and cut["card_updated"]
    assert cut["chosen"] == alone["chosen"] and cut["sweep"] == alone["sweep"]   # h from the two measured
    assert json.loads(card.read_text())["explain"]["high_threshold"] == cut["chosen"]["high_threshold"]

    before = card.read_text()
    short = tune_threshold(None, None, classifier, given_studies=studies, guard=CutStudy(let=1), min_studies=2,
                           **common)
    assert short["chosen"] is None and not short["card_updated"] and short["studies"] == 1
    assert short["cut_inside_study"] == "phantom-8001" and "the card's h is kept" in short["not_tuned"]
    assert card.read_text() == before                                            # the card's h is kept

