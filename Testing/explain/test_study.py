"""Study assembly: Gaussian-weighted window votes, per-iteration segments on the CT grid, cluster filtering."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib.classifier import ClassifierSpec, prepare_study
from IExplainLib.explain.params import ExplainParams
from IExplainLib.explain.study import WindowAssembler, explain_stack, to_ct_grid
from IExplainLib.volume import Volume


def gauss(distance: float, sigma: float = 0.8) -> float:
    return float(np.exp(-0.5 * (distance / sigma) ** 2))


def test_window_votes_are_gaussian_weighted_over_the_windows_present():
    depth, slices = 5, 3
    assembler = WindowAssembler(depth, 2, 2, sigma=0.8)
    for centre in range(depth):
        index = np.clip(np.arange(centre - 1, centre + 2), 0, depth - 1)
        labels = np.zeros((slices, 2, 2), np.uint8)
        heat = np.zeros((slices, 2, 2), np.float32)
        if centre == 2:  # only the window centred on slice 2 found something, in all its slices
            labels[:] = 1
            heat[:] = 4.0
        assembler.add(centre, index, heat, labels)
    heat, votes = assembler.result()
    # slice 2 is covered by windows 1, 2, 3; slice 1 by windows 0, 1, 2; slice 0 by windows 0 (twice: once), 1
    assert votes[1][2, 0, 0] == pytest.approx(1 / (1 + 2 * gauss(1)), rel=1e-5)
    assert votes[1][1, 0, 0] == pytest.approx(gauss(1) / (1 + 2 * gauss(1)), rel=1e-5)
    assert votes[1][0].max() == 0 and votes[1][4].max() == 0
    assert heat[2, 0, 0] == pytest.approx(4 / (1 + 2 * gauss(1)), rel=1e-5)
    assert assembler.weights[0] == pytest.approx(1 + gauss(1))  # the edge window's replica counts once


SPOT_HU, SECOND_HU, BACKGROUND_HU = 450.0, 380.0, -215.0  # 1.0, 0.9 and 0.05 in the default [-250, 450] window


def spot_study() -> tuple[Volume, np.ndarray, np.ndarray]:
    """12 slices of 64x64: a bright spot near the centre and a dimmer one in a corner, both in slices 4-7."""
    array = np.full((12, 64, 64), BACKGROUND_HU, dtype=np.float32)
    central = np.zeros(array.shape, bool)
    central[4:8, 24:34, 20:30] = True
    corner = np.zeros(array.shape, bool)
    corner[4:8, 54:64, 54:64] = True
    array[central] = SPOT_HU
    array[corner] = SECOND_HU
    volume = Volume(array, spacing=(0.7, 0.7, 2.0), origin=(-20.0, 10.0, 5.0))
    return volume, central, corner


def test_spots_are_found_iteration_by_iteration_on_the_ct_grid(detector):
    volume, central, corner = spot_study()
    spec = ClassifierSpec(input_size=32)
    stack = prepare_study(volume, spec)
    params = ExplainParams(n_steps=4, references=["zero"], smoothgrad_samples=1, high_threshold=20.0,
                           reference_size=512, min_new_voxels=0)
    events = []
    explanation = explain_stack(detector, stack, spec, params, threshold=0.5,
                                progress=lambda stage, fraction, message="", **fields: events.append(fields))
    # windows that hold all four spot slices fire (the detector averages the 7 slices)
    assert np.flatnonzero(explanation.probabilities > 0.5).tolist() == [4, 5, 6, 7]
    assert explanation.iterations[4:8].tolist() == [2, 2, 2, 2] and explanation.iterations[:4].max() == 0
    assert any("iteration" in e and "slice" in e for e in events)

    result = to_ct_grid(explanation, volume.shape, params)
    assert result.labelmap.shape == volume.shape and result.heat.shape == volume.shape
    first, second = result.unfiltered == 1, result.unfiltered == 2
    assert dice(first, central) > 0.8 and dice(second, corner) > 0.8
    # filtering: the corner cluster lies beyond 160 px (at 512; 20 px here) from the centre and is dropped
    assert dice(result.labelmap == 1, central) > 0.8 and not (result.labelmap == 2).any()
    assert result.iterations == 2
    assert result.heat[central].mean() > 10 * result.heat[~(central | corner)].mean()

    unfiltered = to_ct_grid(explanation, volume.shape, params.replace(filter=False))
    assert (unfiltered.labelmap == 2).sum() == second.sum()


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))


def test_what_the_filters_keep_stays_whole_and_takes_the_earliest_iteration_it_touches():
    from IExplainLib.explain.study import _kept_by_iteration

    labelmap = np.zeros((4, 20, 20), np.uint8)
    labelmap[1:3, 2:5, 2:5] = 2                  # a segment of iteration 2
    labelmap[1:3, 10:13, 10:13] = 1              # iteration 1 ...
    labelmap[1:3, 10:13, 13:16] = 3              # ... and 3 beside it
    kept = np.zeros(labelmap.shape, bool)
    kept[1:3, 3:8, 3:8] = True                   # a clot the segment only touches: kept whole
    kept[1:3, 11:12, 11:15] = True               # one piece across iterations 1 and 3: all of it is iteration 1
    kept[0, 17:19, 17:19] = True                 # touches no segment: not a finding
    result = _kept_by_iteration(labelmap, kept)
    assert (result[1:3, 3:8, 3:8] == 2).all()
    assert (result[1:3, 11:12, 11:15] == 1).all()
    assert not result[0].any()
    assert np.count_nonzero(result) == np.count_nonzero(kept[1:3])


def test_the_window_loop_yields_every_slice_window_once_in_order_and_its_windows_assemble_the_study(detector):
    from IExplainLib.explain.study import assemble_windows, explain_windows

    volume, _, _ = spot_study()
    spec = ClassifierSpec(input_size=32)
    stack = prepare_study(volume, spec)
    params = ExplainParams(n_steps=4, references=["zero"], smoothgrad_samples=1, high_threshold=20.0,
                           reference_size=512, min_new_voxels=0, window_batch=5, batch_size=5)
    windows = list(explain_windows(detector, stack, spec, params, threshold=0.5))
    assert [window.centre for window in windows] == list(range(12))  # groups of 5: 0-4, 5-9, 10-11
    assert [window.explained for window in windows] == [4 <= c <= 7 for c in range(12)]
    assembled = assemble_windows(windows, 12, 32, params, 0.5)
    direct = explain_stack(detector, stack, spec, params, threshold=0.5)
    assert np.array_equal(assembled.heat, direct.heat) and assembled.votes.keys() == direct.votes.keys()
    assert all(np.array_equal(assembled.votes[k], direct.votes[k]) for k in direct.votes)
    assert np.array_equal(assembled.iterations, direct.iterations)


def test_a_first_iteration_window_clustered_again_at_h_is_what_algorithm1_finds_at_h(detector):
    from IExplainLib.explain.study import explain_windows

    volume, _, _ = spot_study()
    spec = ClassifierSpec(input_size=32)
    stack = prepare_study(volume, spec)
    params = ExplainParams(n_steps=4, references=["zero"], smoothgrad_samples=1, high_threshold=20.0,
                           reference_size=512, min_new_voxels=0, max_iterations=1)
    at_20 = list(explain_windows(detector, stack, spec, params, threshold=0.5))
    at_60 = list(explain_windows(detector, stack, spec, params.replace(high_threshold=60.0), threshold=0.5))
    for window, direct in zip(at_20, at_60):
        again = window.compact().at_high_threshold(60.0, params)
        assert again.explained == direct.explained
        if direct.explained:
            assert np.array_equal(again.result.labels, direct.result.labels)
            assert np.array_equal(again.result.heat, direct.result.heat)
        else:  # a negative window keeps no maps in a cache
            assert again.result.heat.size == 0
    assert sum(int(w.result.labels.sum()) for w in at_60) < sum(int(w.result.labels.sum()) for w in at_20)
    two = list(explain_windows(detector, stack, spec, params.replace(max_iterations=2), threshold=0.5))
    with pytest.raises(ValueError):
        next(w for w in two if w.result.iterations == 2).at_high_threshold(60.0, params)
