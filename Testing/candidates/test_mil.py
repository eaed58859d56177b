"""Multiple-instance training from slice labels: the bags, the loss, and proof that no voxel truth reaches training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from IExplainLib.candidates.mil import score_study, study_bags, train_reducer_model
from IExplainLib.candidates.reducer import build_reducer
from IExplainLib.candidates.training_data import StudyCandidates, prepare_study
from IExplainLib.cli.main import main


def _study(ranges, labels, features=None):
    ranges = np.asarray(ranges, np.int32).reshape(-1, 2)
    count = len(ranges)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(count, 14)).astype(np.float32) if features is None else features
    return StudyCandidates("s", features, rng.random((count, 8, 32, 32)).astype(np.float16), ranges,
                           np.asarray(labels, bool))


def test_bags_from_slice_labels():
    labels = [0, 0, 1, 1, 0, 0]
    study = _study([(0, 1), (1, 2), (2, 3), (3, 3), (4, 5)], labels)
    bags = study_bags(study)
    assert list(bags.negatives) == [0, 4]            # no PE slice in their range
    assert [list(b) for b in bags.positive_bags] == [[1, 2], [2, 3]]  # one bag per PE slice, each distinct
    assert list(bags.spans_pe) == [False, True, True, True, False]


def test_mil_learns_the_one_embolus_of_each_bag():
    # in each PE-slice bag exactly one candidate has feature 0 high; negatives never do. MIL finds that feature.
    rng = np.random.default_rng(1)
    studies = []
    for n in range(24):
        positive = n % 2 == 0
        features = rng.normal(size=(6, 14)).astype(np.float32)
        features[:, 0] = -2
        ranges = [(2 * i, 2 * i + 1) for i in range(6)]
        labels = np.zeros(12, bool)
        if positive:
            features[3, 0] = 2
            labels[6:8] = True
        studies.append(_study(ranges, labels, features))
    model = build_reducer("features-mlp")
    train_reducer_model(model, studies, "mil", epochs=40, lr=1e-2)
    scores = score_study(model, studies[0])
    assert scores[3] > 0.8 and np.delete(scores, 3).max() < 0.3


def test_unknown_supervision_is_refused():
    with pytest.raises(ValueError, match="supervision"):
        train_reducer_model(build_reducer("features-mlp"), [_study([(0, 0)], [1])], "boxes")


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
    assert study.slice_labels.tolist() == positive_study.slice_labels.tolist()
    for a, b in study.slice_ranges:
        assert 0 <= a <= b < positive_study.volume.shape[0]


def test_cache_round_trip(tmp_path):
    study = _study([(0, 1), (1, 2)], [0, 1, 0])
    study.save(tmp_path / "s.npz")
    loaded = StudyCandidates.load(tmp_path / "s.npz")
    assert np.array_equal(loaded.patches, study.patches) and np.array_equal(loaded.slice_ranges, study.slice_ranges)
    assert torch.equal(torch.from_numpy(loaded.features), torch.from_numpy(study.features))
