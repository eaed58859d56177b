"""Small phantoms for the candidate detector's tests (128 px, 32 slices: central and lobar emboli are resolved)."""

from __future__ import annotations

import pytest

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
