"""Multiple-instance training from slice labels: the bags, the loss, and proof that no voxel truth reaches training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from IExplainLib.candidates.mil import (MILSettings, MILTraining, bag_logit, score_study, study_bags, study_loss,
                                        train_reducer_model)
from IExplainLib.candidates.reducer import build_reducer
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES, StudyCandidates, prepare_study
from IExplainLib.cli.main import main
from IExplainLib.errors import InputError


def _study(ranges, labels, features=None):
    ranges = np.asarray(ranges, np.int32).reshape(-1, 2)
    count = len(ranges)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(count, len(STUDY_FEATURE_NAMES))).astype(np.float32) if features is None else features
    return StudyCandidates("s", features, rng.random((count, 8, 32, 32)).astype(np.float16), ranges,
                           np.asarray(labels, bool))


def test_bags_from_slice_labels():
    labels = [0, 0, 1, 1, 0, 0]
    study = _study([(0, 1), (1, 2), (2, 3), (3, 3), (4, 5)], labels)
    bags = study_bags(study)
    assert list(bags.negatives) == [0, 4]            # no PE slice in their range
    assert [list(b) for b in bags.positive_bags] == [[1, 2], [2, 3]]  # one bag per PE slice, each distinct
    assert list(bags.spans_pe) == [False, True, True, True, False]


@pytest.mark.parametrize("sharpness", [None, 0.5])
def test_mil_learns_the_one_embolus_of_each_bag(sharpness):
    # in each PE-slice bag exactly one candidate has feature 0 high; negatives never do. MIL finds that feature.
    rng = np.random.default_rng(1)
    studies = []
    for n in range(24):
        positive = n % 2 == 0
        features = rng.normal(size=(6, len(STUDY_FEATURE_NAMES))).astype(np.float32)
        features[:, 0] = -2
        ranges = [(2 * i, 2 * i + 1) for i in range(6)]
        labels = np.zeros(12, bool)
        if positive:
            features[3, 0] = 2
            labels[6:8] = True
        studies.append(_study(ranges, labels, features))
    model = build_reducer("features-mlp")
    train_reducer_model(model, studies, "mil", epochs=40, lr=1e-2, bag_sharpness=sharpness)
    scores = score_study(model, studies[0])
    assert scores[3] > 0.8 and np.delete(scores, 3).max() < 0.3


def test_a_leaky_bag_whose_candidates_all_look_unlike_an_embolus_costs_a_bounded_loss():
    # a PE slice whose embolus no candidate holds: without a leak its bag demands that one of them be called an
    # embolus (the loss grows with how sure the model is that none is); with one, the loss stops at -log(leak)
    study = _study([(0, 0), (0, 0)], [1])
    bags = study_bags(study)

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = torch.tensor(logits)

        def forward(self, patches, features):
            return self.logits

    sure_none = Fixed([-40.0, -30.0])
    assert float(study_loss(sure_none, study, bags, "mil")) > 29
    assert float(study_loss(sure_none, study, bags, "mil", bag_leak=0.3)) == pytest.approx(-np.log(0.3), rel=1e-4)
    # a bag that holds its embolus is scored as before, up to the leak's share
    sure_one = Fixed([-40.0, 8.0])
    assert float(study_loss(sure_one, study, bags, "mil", bag_leak=0.3)) < 1e-3
    with pytest.raises(InputError, match="bag leak"):
        MILSettings(bag_leak=1.0)


def test_a_soft_bag_lies_between_its_members_mean_and_maximum_and_teaches_each_of_them():
    logits = torch.tensor([-3.0, 0.0, 2.0], requires_grad=True)
    with torch.no_grad():
        assert float(bag_logit(logits)) == 2.0
        assert float(bag_logit(logits, 50.0)) == pytest.approx(2.0, abs=0.03)       # sharp: the maximum
        assert float(bag_logit(logits, 1e-4)) == pytest.approx(float(logits.mean()), abs=1e-3)  # blunt: the mean
    soft = bag_logit(logits, 0.5)
    assert float(logits.detach().mean()) < float(soft.detach()) < 2.0
    soft.backward()
    # the soft maximum's gradient is its members' softmax weights: every member learns, the likeliest most
    assert logits.grad is not None and bool((logits.grad > 0).all()) and float(logits.grad.sum()) == pytest.approx(1.0)
    assert logits.grad.argmax() == 2
    hard = torch.tensor([-3.0, 0.0, 2.0], requires_grad=True)
    bag_logit(hard).backward()
    assert hard.grad is not None and hard.grad.tolist() == [0.0, 0.0, 1.0]  # the maximum teaches its top member only
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(InputError, match="bag sharpness"):
            MILSettings(bag_sharpness=bad)


def test_unknown_supervision_and_studies_without_candidates_are_refused_as_input_errors():
    with pytest.raises(InputError, match="supervision"):
        train_reducer_model(build_reducer("features-mlp"), [_study([(0, 0)], [1])], "boxes")
    with pytest.raises(InputError, match="no study has any candidate"):
        train_reducer_model(build_reducer("features-mlp"), [_study(np.zeros((0, 2)), [1])], "mil")


def _reference_loop(model, studies, supervision, epochs, lr, seed, min_pe_share):
    """The reducer's loop as it was written before it ran on the training skeleton (session 19), kept here as the
    reference its weights must match to the bit."""
    studies = [s for s in studies if len(s)]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.standardise.fit(torch.from_numpy(np.concatenate([s.features[:, :model.inputs] for s in studies])))
    bags = [study_bags(s, min_pe_share) for s in studies]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * len(studies))
    for _ in range(epochs):
        model.train()
        for index in rng.permutation(len(studies)):
            loss = study_loss(model, studies[index], bags[index], supervision)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


@pytest.mark.parametrize("architecture, supervision, share", [("features-mlp", "mil", 0.0), ("patch-cnn", "mil", 1.0),
                                                              ("features-mlp", "soft", 0.0), ("rings-mlp", "mil", 1.0)])
def test_the_loop_on_the_training_skeleton_trains_the_same_weights_as_the_plain_loop(architecture, supervision,
                                                                                    share):
    rng = np.random.default_rng(3)
    studies = [_study([(2 * i, 2 * i + 1) for i in range(5)], rng.random(10) < 0.3) for _ in range(4)]
    studies.append(_study(np.zeros((0, 2)), np.zeros(4, bool)))  # no candidate: left out by both
    options = {"width": 4} if architecture == "patch-cnn" else {}
    trained = []
    for train in (train_reducer_model, _reference_loop):
        torch.manual_seed(5)
        model = build_reducer(architecture, **options)
        trained.append(train(model, studies, supervision, 3, 2e-3, 11, min_pe_share=share))
    ours, reference = (model.state_dict() for model in trained)
    assert not trained[0].training and ours.keys() == reference.keys()
    assert all(torch.equal(ours[key], reference[key]) for key in reference)
    assert not torch.equal(ours["standardise.mean"], torch.zeros_like(ours["standardise.mean"]))  # it was fitted


def test_the_loop_logs_each_epoch_and_trains_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = []
    studies = [_study([(0, 1), (1, 2)], [0, 1, 0]), _study([(0, 0)], [0])]
    run = MILTraining(build_reducer("features-mlp"), studies, MILSettings(epochs=2), log=lines.append)
    assert run.in_memory and run.run() is None and run.step == 4
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert list(tmp_path.iterdir()) == []


class _NoTruth:
    """Phantom study whose truth, boxes and emboli cannot be read: a training path that reads them fails here."""

    def __init__(self, study):
        self._study = study

    volume = property(lambda self: self._study.volume)
    slice_labels = property(lambda self: self._study.slice_labels)

    def __getattr__(self, name):
        raise AssertionError(f"training read the phantom's {name!r}: only the CT and its slice labels may be used")


def test_training_reads_only_the_ct_and_its_slice_labels(monkeypatch, tmp_path, positive_study, negative_study):
    import IExplainLib.cli.commands_candidates as commands

    studies = {3000: positive_study, 3001: negative_study}
    monkeypatch.setattr(commands, "_phantom_study", lambda seed, size, slices: _NoTruth(studies[seed]))
    out = tmp_path / "reducer.safetensors"
    code = main(["train-reducer", "--phantoms", "2", "--seed", "3000", "--architecture", "features-mlp",
                 "--epochs", "2", "-o", str(out), "--progress", "quiet"])
    assert code == 0 and out.exists()


def test_prepare_study_takes_no_truth(positive_study):
    study = prepare_study("p", positive_study.volume, positive_study.slice_labels)
    assert study.features.shape == (len(study), len(STUDY_FEATURE_NAMES))
    assert study.slice_labels.tolist() == positive_study.slice_labels.tolist()
    for a, b in study.slice_ranges:
        assert 0 <= a <= b < positive_study.volume.shape[0]


def test_cache_round_trip(tmp_path):
    study = _study([(0, 1), (1, 2)], [0, 1, 0])
    study.save(tmp_path / "s.npz")
    loaded = StudyCandidates.load(tmp_path / "s.npz")
    assert np.array_equal(loaded.patches, study.patches) and np.array_equal(loaded.slice_ranges, study.slice_ranges)
    assert torch.equal(torch.from_numpy(loaded.features), torch.from_numpy(study.features))
