"""Small hand-made CT studies for the classifier tests: a contrast-filled tube, a dark clot in some slices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from IExplainLib import Volume


def tube_study(seed: int, slices: int = 12, size: int = 32, clot_slices: tuple[int, int] | None = (4, 8)):
    """HU volume: -800 lung, a 350 HU vessel; a 40 HU clot inside it on slices [a, b). Returns (volume, labels)."""
    rng = np.random.default_rng(seed)
    array = np.full((slices, size, size), -800.0) + rng.normal(0, 15, (slices, size, size))
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size // 2 + rng.integers(-3, 4), size // 2 + rng.integers(-3, 4)
    radius = size / 5
    vessel = (yy - cy) ** 2 + (xx - cx) ** 2 < radius ** 2
    array[:, vessel] = 350.0 + rng.normal(0, 15, (slices, int(vessel.sum())))
    labels = np.zeros(slices, np.uint8)
    if clot_slices:
        clot = (yy - cy) ** 2 + (xx - cx) ** 2 < (radius * 0.6) ** 2
        for z in range(*clot_slices):
            array[z][clot] = 40.0
        labels[clot_slices[0]:clot_slices[1]] = 1
    return Volume(array.astype(np.int16), spacing=(0.8, 0.8, 2.0)), labels


def write_tube_dataset(root: Path, studies: int = 6, slices: int = 12, size: int = 32) -> Path:
    """A dataset.json dataset of tube studies (half of them without clots)."""
    from IExplainLib.io import write_volume

    (root / "images").mkdir(parents=True)
    (root / "slice_labels").mkdir()
    cases = []
    for index in range(studies):
        volume, labels = tube_study(index, slices, size, (3 + index % 4, 8 + index % 3) if index % 2 == 0 else None)
        name = f"case-{index:03d}"
        write_volume(root / "images" / f"{name}.nii.gz", volume)
        rows = "".join(f"{z},{int(v)}\n" for z, v in enumerate(labels))
        (root / "slice_labels" / f"{name}.csv").write_text("slice_index,pe_present\n" + rows)
        cases.append({"id": name, "image": f"images/{name}.nii.gz", "slice_labels": f"slice_labels/{name}.csv"})
    (root / "dataset.json").write_text(json.dumps(
        {"format": "iexplain-dataset", "version": 1, "description": "tube phantoms", "cases": cases}))
    return root


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The test machine is small and shared: one intra-op thread avoids oversubscription stalls."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tube_dataset(tmp_path_factory) -> Path:
    return write_tube_dataset(tmp_path_factory.mktemp("tubes") / "data")


@pytest.fixture(scope="session")
def make_tube_study():
    return tube_study


@pytest.fixture
def tiny_spec():
    from IExplainLib.classifier import ClassifierSpec

    return ClassifierSpec(input_size=32, hu_windows=[(100, 700)])
