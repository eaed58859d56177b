"""Synthetic CTPA studies: truth inside the arteries, labels and boxes derived exactly, reproducible, CTPA-like HU."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib import InputError
from IExplainLib.phantoms import make_study

SMALL = dict(slices=32, size=128)


@pytest.fixture(scope="module")
def positives():
    return [make_study(seed, n_emboli=3, negative=False, **SMALL) for seed in (11, 12, 13)]


@pytest.fixture(scope="module")
def negative():
    return make_study(21, negative=True, **SMALL)


def test_study_shape_types_and_geometry(positives):
    study = positives[0]
    assert study.volume.array.shape == (32, 128, 128)
    assert study.volume.array.dtype == np.int16
    assert study.truth.shape == study.vessels.shape == (32, 128, 128)
    assert study.truth.dtype == np.uint8 and study.vessels.dtype == bool
    sx, sy, sz = study.volume.spacing
    assert sx == sy and 340 / 128 <= sx <= 380 / 128  # a 340-380 mm field of view
    assert sz >= 100 / 32  # the slab covers at least 100 mm
    assert np.allclose(study.volume.direction, np.eye(3))
    assert study.study_uid.startswith("1.2.") and len(study.study_uid) <= 64


def test_every_truth_voxel_lies_in_a_contrast_filled_artery(positives):
    for study in positives:
        assert study.truth.any()
        assert study.vessels[study.truth > 0].all()


def test_emboli_are_numbered_and_summarised(positives):
    for study in positives:
        labels = sorted(int(v) for v in np.unique(study.truth) if v)
        assert labels == [e["embolus"] for e in study.emboli] == list(range(1, len(study.emboli) + 1))
        assert len(study.emboli) == 3
        for embolus in study.emboli:
            assert embolus["level"] in ("central", "lobar", "segmental", "subsegmental")
            assert embolus["side"] in ("left", "right")
            assert isinstance(embolus["occlusive"], bool)
            assert embolus["voxels"] == int((study.truth == embolus["embolus"]).sum())
            assert 20 <= embolus["hu"] <= 80
            # Visible: at least two slices long.
            assert np.count_nonzero((study.truth == embolus["embolus"]).any(axis=(1, 2))) >= 2


def test_slice_labels_are_truth_presence(positives, negative):
    for study in positives + [negative]:
        expected = [bool(study.truth[k].any()) for k in range(study.truth.shape[0])]
        assert study.slice_labels.tolist() == expected


def test_boxes_enclose_each_embolus_in_each_slice(positives):
    for study in positives:
        seen = set()
        for box in study.boxes:
            k, label = box["slice_index"], box["embolus"]
            plane = study.truth[k] == label
            rows, cols = np.nonzero(plane)
            assert rows.size, "a box on a slice without that embolus"
            assert box["x"] == cols.min() and box["y"] == rows.min()
            assert box["x"] + box["width"] - 1 == cols.max() and box["y"] + box["height"] - 1 == rows.max()
            seen.add((k, label))
        expected = {(k, int(v)) for k in range(study.truth.shape[0]) for v in np.unique(study.truth[k]) if v}
        assert seen == expected  # exactly one box per embolus per slice


def test_same_seed_same_study_and_other_seed_differs(positives):
    again = make_study(11, n_emboli=3, negative=False, **SMALL)
    first = positives[0]
    assert np.array_equal(again.volume.array, first.volume.array)
    assert np.array_equal(again.truth, first.truth)
    assert again.study_uid == first.study_uid and again.emboli == first.emboli
    assert not np.array_equal(positives[1].volume.array, first.volume.array)
    assert positives[1].study_uid != first.study_uid


def test_negative_study_has_no_truth(negative):
    assert negative.negative and negative.emboli == [] and negative.boxes == []
    assert not negative.truth.any() and not negative.slice_labels.any()
    assert negative.vessels.any()  # the arteries are there, just without clots


def test_emboli_are_dark_filling_defects_in_bright_lumen():
    study = make_study(5, slices=40, size=256, n_emboli=4, negative=False)
    image = study.volume.array.astype(float)
    assert 250 <= study.lumen_hu <= 450
    from scipy import ndimage

    lumen_core = ndimage.binary_erosion(study.vessels, iterations=1) & ~ndimage.binary_dilation(study.truth > 0, iterations=2)
    assert 230 <= np.median(image[lumen_core]) <= 470
    for embolus in study.emboli:
        clot = image[study.truth == embolus["embolus"]]
        # The darkest part of each clot is clot density, far below the lumen (blur mixes the edges).
        assert np.percentile(clot, 10) < 110
    assert np.median(image[study.truth > 0]) < 150


def test_contrast_and_scanner_vary_between_studies(positives):
    lumens = {round(s.lumen_hu) for s in positives}
    noises = {s.scanner["noise_sd"] for s in positives}
    assert len(lumens) == 3 and len(noises) == 3
    for study in positives:
        assert study.contrast["vein_hu"] < study.contrast["lumen_hu"]  # veins enhance less


def test_default_draws_give_some_negative_studies():
    flags = [make_study(seed, slices=12, size=48).negative for seed in range(12)]
    assert any(flags) and not all(flags)


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=-1), "seed"), (dict(seed=0, slices=2), "slices"), (dict(seed=0, size=8), "size"),
    (dict(seed=0, negative=True, n_emboli=2), "negative"), (dict(seed=0, spacing_xy=0), "spacing"),
])
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        make_study(**kwargs)
