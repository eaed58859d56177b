"""The reproduce run's ``reducer`` phase: the candidate detector's false-positive reducer learns from the training
studies' slice labels only (their voxel truth is never read), its threshold comes from the tuning studies, a phase
short of time is ``partial`` with the studies it prepared. The whole toy run's reducer, its quality row, and the
quality phase of a run without a reducer are checked in test_reproduce_cli.py."""

import inspect
import time

import pytest

from IExplainLib.errors import InputError
from IExplainLib.modelfile import load_model_file
from IExplainLib.reproduce import ReproduceOptions, Reproduction, scale_for
from IExplainLib.reproduce.reducer import prepare_training, run_jobs, train_reducer_phase
from IExplainLib.reproduce.studies import make_phantoms, of_role


def _no_truth(study_id):
    def load_truth():
        raise AssertionError(f"the voxel truth of training study {study_id} was read")
    return load_truth


def test_the_reducer_learns_from_slice_labels_only(tmp_path, monkeypatch):
    original = Reproduction.phase_data

    def data_without_training_truth(self, deadline):
        summary = original(self, deadline)
        for study in of_role(self.studies, "train"):
            study.load_truth = _no_truth(study.id)  # any read of a training study's truth fails the phase
        return summary

    monkeypatch.setattr(Reproduction, "phase_data", data_without_training_truth)
    options = ReproduceOptions(tmp_path / "run", scale_for("toy"), 2.0, device="cpu", phases=("data", "reducer"))
    report = Reproduction(options).run()
    phase = report["phases"]["reducer"]
    assert phase["status"] == "done", phase["message"]
    # what travels to a training study's worker process: the CT and its slice labels, nothing else
    assert list(inspect.signature(prepare_training).parameters) == ["case_id", "volume", "slice_labels"]
    state, card = load_model_file(tmp_path / "run" / "models" / "reducer.safetensors", expected_kind="reducer")
    assert state and card["reducer"]["architecture"] == "rings-mlp"
    assert card["training"]["supervision"] == "slice labels only (mil)"
    assert card["training"]["config"]["bag_min_pe_share"] == 1.0 and card["training"]["config"]["epochs"] == 2
    assert card["training"]["data"]["case_ids"] == ["phantom-0", "phantom-1"]
    assert card["training"]["data"]["tuning_studies"]["case_ids"] == ["phantom-8000"]  # the threshold's only
    assert card["metrics"]["tuning"]["studies"] == 1 and card["threshold"] == card["metrics"]["tuning"]["threshold"]
    result = phase["result"]
    assert result["training_studies"] == result["of"] == 2 and result["tuning_studies"] == 1
    assert result["threshold"] == card["threshold"] and not result["partial"]
    assert report["models"]["reducer"]["weights"] == "models/reducer.safetensors"
    assert "- reducer rings-mlp (mil, slice labels only): 2 of 2 training studies" in \
        (tmp_path / "run" / "reproduce.md").read_text()


def test_a_reducer_phase_short_of_time_is_partial_with_the_least_it_needs(tmp_path):
    studies, _ = make_phantoms({"train": 3, "tune": 2}, slices=12, size=64, workers=2)
    out = tmp_path / "reducer.safetensors"
    # a deadline already passed: only the least a reducer needs is prepared (two training, one tuning study)
    result = train_reducer_phase(of_role(studies, "train"), of_role(studies, "tune"), scale_for("toy"), out,
                                 deadline=time.monotonic(), workers=2)
    assert result["partial"] and result["training_studies"] == 2 and result["of"] == 3
    assert result["tuning_studies"] == 1
    assert load_model_file(out, expected_kind="reducer")


def test_jobs_after_the_deadline_are_not_started_except_the_required_ones():
    jobs = [(abs, (lambda value=value: (-value,))) for value in range(5)]
    assert run_jobs(jobs, time.monotonic() + 600, workers=2) == [0, 1, 2, 3, 4]
    assert run_jobs(jobs, time.monotonic() - 1, workers=2, required=2) == [0, 1, None, None, None]
    assert run_jobs([], time.monotonic(), workers=2) == []
    errors: dict = {}  # a failing study is noted in one line and costs the others nothing
    assert run_jobs([jobs[1], (abs, lambda: ("a study",)), jobs[2]], time.monotonic() + 600, workers=2,
                    errors=errors) == [1, None, 2]
    assert list(errors) == [1] and errors[1].startswith("TypeError: bad operand type for abs()")


def test_unknown_phases_are_refused():
    with pytest.raises(InputError, match="phases are among data, bench, classifier, tune, reducer"):
        ReproduceOptions("out", scale_for("toy"), 1.0, phases=("data", "reducers"))
