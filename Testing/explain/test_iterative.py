"""Algorithm 1: each stopping rule triggers, masking uncovers the next finding, windows advance together."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from IExplainLib.explain.iterative import (STOP_LIMIT, STOP_NEGATIVE, STOP_SMALL, heat_from_attributions,
                                           run_algorithm1)
from IExplainLib.explain.params import ExplainParams

SLICES, SIZE = 7, 32
SPOTS = {"A": ((6, 6), 1.0), "B": ((6, 22), 0.9), "C": ((22, 14), 0.8)}  # 5x5 spots, top-left corner, brightness


def window(*names: str) -> torch.Tensor:
    image = torch.full((SLICES, SIZE, SIZE), 0.2)
    for name in names:
        (y, x), value = SPOTS[name]
        image[:, y:y + 5, x:x + 5] = value
    return image


def spot_mask(name: str) -> np.ndarray:
    mask = np.zeros((SLICES, SIZE, SIZE), dtype=bool)
    (y, x), _ = SPOTS[name]
    mask[:, y:y + 5, x:x + 5] = True
    return mask


def params(**changes) -> ExplainParams:
    base = dict(n_steps=4, references=["zero"], smoothgrad_samples=1, high_threshold=5.0, reference_size=None,
                min_new_voxels=10, max_iterations=10, window_batch=2)
    return ExplainParams(**{**base, **changes})


def test_each_stopping_rule(detector):
    windows = torch.stack([window(), window("A"), window("A", "B"), window("A", "B", "C")])
    # min_new_voxels 10 everywhere; window 2 gets the "small" rule through a second run below
    results = run_algorithm1(detector, windows, SLICES, params(max_iterations=2), threshold=0.5)
    empty, single, double, triple = results

    assert empty.iterations == 0 and empty.stop_reason == STOP_NEGATIVE and empty.probabilities[0] < 0.5
    assert not empty.labels.any()

    # one spot: found exactly, masked, and the classifier no longer fires
    assert single.iterations == 1 and single.stop_reason == STOP_NEGATIVE
    assert np.array_equal(single.labels == 1, spot_mask("A"))
    assert single.probabilities[0] > 0.5 > single.probabilities[-1]

    # two spots: the brightest first, the next one uncovered by masking
    assert double.iterations == 2 and double.stop_reason == STOP_NEGATIVE
    assert np.array_equal(double.labels == 1, spot_mask("A")) and np.array_equal(double.labels == 2, spot_mask("B"))

    # three spots, two iterations allowed: the limit stops it while the classifier still fires
    assert triple.iterations == 2 and triple.stop_reason == STOP_LIMIT
    assert triple.probabilities[-1] > 0.5 and not (triple.labels[spot_mask("C")]).any()
    assert triple.new_voxels == [175, 175]


def test_small_new_segment_stops(detector):
    result, = run_algorithm1(detector, window("A", "B")[None], SLICES, params(min_new_voxels=176), threshold=0.5)
    assert result.iterations == 1 and result.stop_reason == STOP_SMALL
    assert result.new_voxels == [175] and result.probabilities[-1] > 0.5  # still positive: only size stopped it


def test_results_do_not_depend_on_how_windows_are_batched(detector):
    windows = torch.stack([window("A", "B"), window("B"), window("A", "B", "C")])
    together = run_algorithm1(detector, windows, SLICES, params(window_batch=3), threshold=0.5)
    alone = [run_algorithm1(detector, w[None], SLICES, params(), threshold=0.5, keys=[k])[0]
             for k, w in enumerate(windows)]
    for a, b in zip(together, alone):
        assert a.iterations == b.iterations and np.array_equal(a.labels, b.labels)
        assert np.allclose(a.heat, b.heat, rtol=1e-4, atol=1e-5)


def test_heat_is_summed_over_hu_windows_positive_part_and_mean_normalised():
    attributions = torch.zeros(1, 2 * 3, 4, 4)  # 2 HU windows x 3 slices, window-major channels
    attributions[0, 1, 0, 0] = 2.0   # HU window 0, slice 1
    attributions[0, 4, 0, 0] = 1.0   # HU window 1, slice 1: same voxel
    attributions[0, 2, 3, 3] = -5.0  # negative evidence: dropped
    heat = heat_from_attributions(attributions, 3, ExplainParams())
    assert heat.shape == (1, 3, 4, 4)
    assert heat[0, 1, 0, 0] == pytest.approx(3 / (3 / 48))  # 3 in 48 voxels: 48 times the mean
    assert heat[0, 2, 3, 3] == 0 and heat.min() == 0


def test_replicated_edge_slices_share_their_summed_heat():
    attributions = torch.zeros(1, 3, 4, 4)
    attributions[0, 0, 1, 1] = 1.0
    attributions[0, 1, 1, 1] = 2.0
    heat = heat_from_attributions(attributions, 3, ExplainParams(normalisation="none"),
                                  slice_index=np.array([[0, 0, 1]]))  # the first study slice twice
    assert heat[0, 0, 1, 1] == heat[0, 1, 1, 1] == 3.0 and heat[0, 2].max() == 0
