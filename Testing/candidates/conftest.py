"""Small phantoms for the candidate detector's tests (128 px, 32 slices: central and lobar emboli are resolved)."""

from __future__ import annotations

import pytest

from IExplainLib.candidates.train import ReducerTrainConfig, train_reducer
from IExplainLib.candidates.training_data import prepare_study
from IExplainLib.phantoms import make_study


@pytest.fixture(scope="session")
def positive_study():
    return make_study(13, slices=32, size=128, negative=False)


@pytest.fixture(scope="session")
def negative_study():
    return make_study(15, slices=32, size=128, negative=True)


@pytest.fixture(autouse=True)
def _one_thread(single_thread_torch):
    yield
@pytest.fixture(scope="session")
def reducer_file(positive_study, negative_study, tmp_path_factory):
    studies = [prepare_study("p", positive_study.volume, positive_study.slice_labels),
               prepare_study("n", negative_study.volume, negative_study.slice_labels)]
    out = tmp_path_factory.mktemp("reducer") / "reducer.safetensors"
    return train_reducer(studies, ReducerTrainConfig("features-mlp", epochs=3), out, threshold=0.0)
