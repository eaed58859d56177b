"""The reducer's model file from the training skeleton: the same refusals, clean-up of a killed run, time limit and
card writing as the classifier's and the segmenter's trainers, on studies with real candidates."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from IExplainLib.candidates.train import ReducerTraining, ReducerTrainConfig, train_reducer
from IExplainLib.candidates.training_data import prepare_study
from IExplainLib.errors import InputError, OutputExistsError


@pytest.fixture(scope="module")
def studies(positive_study, negative_study):
    return [prepare_study("p", positive_study.volume, positive_study.slice_labels),
            prepare_study("n", negative_study.volume, negative_study.slice_labels)]


def test_the_model_file_and_card_are_written_and_no_checkpoint_is_kept(studies, tmp_path):
    leftover = tmp_path / ".partial-0123abcd-r.safetensors"  # what a killed run of the same output left
    leftover.write_bytes(b"half")
    lines = []
    path = train_reducer(studies, ReducerTrainConfig("features-mlp", epochs=2), tmp_path / "r.safetensors",
                         threshold=0.25, data={"source": "test"}, command="test", log=lines.append)
    assert path == tmp_path / "r.safetensors" and not leftover.exists()
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == "reducer" and card["threshold"] == 0.25
    assert card["training"]["device"] == "cpu" and card["training"]["mixed_precision"] is False
    assert card["training"]["data"] == {"source": "test", "studies": 2, "positive_studies": 1,
                                        "candidates": sum(len(s) for s in studies)}
    assert "time_limit" not in card["training"] and len(lines) == 2
    assert set(load_file(str(path))) >= {"standardise.mean", "standardise.scale"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.safetensors"]  # no checkpoint beside it
    with pytest.raises(OutputExistsError):  # refused before any training, as the other trainers refuse
        train_reducer(studies, ReducerTrainConfig("features-mlp", epochs=2), path)


def test_a_deadline_cuts_the_epochs_and_the_card_says_so(studies, tmp_path):
    ticks = iter(range(1000))
    run = ReducerTraining(studies, ReducerTrainConfig("features-mlp", epochs=20), tmp_path / "r.safetensors",
                          threshold=0.5, deadline=3.5, clock=lambda: float(next(ticks)))  # one second a step
    assert run.run() == tmp_path / "r.safetensors"
    limit = json.loads((tmp_path / "r.json").read_text())["training"]["time_limit"]
    assert limit == {"planned_steps": 40, "steps": run.step, "stopped_by_deadline": True} and run.step < 6


def test_refusals_are_input_errors(studies, tmp_path):
    with pytest.raises(InputError, match="supervision"):
        ReducerTrainConfig("features-mlp", supervision="boxes")
    empty = [studies[0].__class__("e", studies[0].features[:0], studies[0].patches[:0], studies[0].slice_ranges[:0],
                                  studies[0].slice_labels)]
    with pytest.raises(InputError, match="no study has any candidate"):
        train_reducer(empty, ReducerTrainConfig("features-mlp"), tmp_path / "r.safetensors")
    assert not (tmp_path / "r.safetensors").exists()
