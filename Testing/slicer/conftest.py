"""Fixtures for the Slicer module's tests: the real Slicer core libraries (PyPI ``slicer-core``) and test CTs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (str(HERE), str(REPO / "IExplain"), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture
def scene():
    """A fresh MRML scene with the converter rules and ``slicer.modules`` logic the module's code uses."""
    from mrml_scene import newScene

    return newScene()


@pytest.fixture
def ct_volume():
    from slicer_test_data import oblique_volume

    return oblique_volume()


@pytest.fixture
def ct_file(tmp_path, ct_volume) -> Path:
    from IExplainLib.io import write_volume

    return write_volume(ct_volume, tmp_path / "ct.nrrd")
