"""Fixtures of the segmenter tests: tiny phantom datasets on disk (dataset.json layout) and a tiny trained model.

Everything is small (64x64 slices, 16x32x32 patches, filters 4-8-16) so the suite fits in its time budget on two
shared CPU cores; torch runs single-threaded here because oversubscribed threads are far slower on a busy machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

TINY_ARCH = ["--filters", "4,8,16", "--patch-size", "16,32,32", "--inplane-spacing", "4"]


@pytest.fixture(autouse=True)
def _single_thread(single_thread_torch):
    yield


def write_dataset_json(root: Path, studies: dict, labels: dict | None = None, provenance=None) -> Path:
    """Write ``studies`` (id -> SyntheticStudy) as a dataset.json folder; ``labels`` overrides the truth."""
    from IExplainLib.io import write_volume
    from IExplainLib.volume import Volume

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    cases = []
    for case_id, study in studies.items():
        label = study.truth if labels is None else labels[case_id]
        write_volume(root / "images" / f"{case_id}.nii.gz", study.volume)
        v = study.volume
        write_volume(root / "labels" / f"{case_id}.nii.gz",
                     Volume(np.asarray(label).astype(np.uint8), v.spacing, v.origin, v.direction))
        cases.append({"id": case_id, "image": f"images/{case_id}.nii.gz", "label": f"labels/{case_id}.nii.gz",
                      "provenance": provenance or {"source": "phantom", "seed": study.seed}})
    (root / "dataset.json").write_text(json.dumps({"format": "iexplain-dataset", "version": 1, "cases": cases}))
    return root


def tiny_study(seed: int, emboli: int | None = 3):
    from IExplainLib.phantoms import make_study

    return make_study(seed, slices=24, size=64, n_emboli=emboli, negative=(emboli == 0) if emboli == 0 else None)


@pytest.fixture(scope="session")
def tiny_phantoms(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantoms")
    return write_dataset_json(root, {f"phantom-{seed}": tiny_study(seed) for seed in range(3)})


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_phantoms) -> Path:
    """A tiny segmenter trained for a few steps (weights are real, quality is not the point)."""
    from IExplainLib.cli.main import main

    out = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    code = main(["train-segmenter", "--images", str(tiny_phantoms), "--out", str(out), *TINY_ARCH,
                 "--iterations", "6", "--batch-size", "2", "--warmup", "2", "--lr", "1e-3", "--progress", "quiet"])
    assert code == 0
    return out


def subprocess_env() -> dict:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    return env
