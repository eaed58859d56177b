"""2.5D inputs: HU windowing, resampling, mini-volumes with edge replication in slice-position order."""

import numpy as np
import torch

from IExplainLib import Volume
from IExplainLib.classifier import ClassifierSpec, predict_slices, prepare_study, window_indices, windows_for


def test_window_indices_replicate_edges():
    spec = ClassifierSpec()
    index = window_indices([0, 5, 9], depth=10, spec=spec)
    assert index.tolist() == [[0, 0, 0, 0, 1, 2, 3], [2, 3, 4, 5, 6, 7, 8], [6, 7, 8, 9, 9, 9, 9]]


def test_windows_follow_slice_order_and_are_window_major():
    spec = ClassifierSpec(slices=3, input_size=16, hu_windows=[(0, 10), (0, 20)])
    depth = 6
    # stack value encodes (slice, window): slice z in window w holds z + 10 w
    stack = torch.stack([torch.stack([torch.full((4, 4), z + 10.0 * w) for w in range(2)]) for z in range(depth)])
    got = windows_for(stack, [0, 3, 5], spec)
    assert got.shape == (3, 6, 4, 4)
    values = got[:, :, 0, 0].tolist()
    assert values[0] == [0, 0, 1, 10, 10, 11]
    assert values[1] == [2, 3, 4, 12, 13, 14]
    assert values[2] == [4, 5, 5, 14, 15, 15]
    # a NumPy uint8 stack (the training cache) gives the same windows scaled from 0..255
    as_uint8 = windows_for(stack.numpy().astype(np.uint8), [3], spec)
    assert torch.allclose(as_uint8 * 255.0, got[1:2])


def test_prepare_study_windows_hu_and_resamples():
    hu = np.zeros((3, 64, 48), np.int16)
    hu[0] = -250   # bottom of the (100, 700) window
    hu[1] = 450    # top
    hu[2] = 100    # centre
    stack = prepare_study(Volume(hu), ClassifierSpec(input_size=32, hu_windows=[(100, 700), (450, 100)]))
    assert stack.shape == (3, 2, 32, 32)
    assert torch.allclose(stack[:, 0, 10, 10], torch.tensor([0.0, 1.0, 0.5]))
    assert torch.allclose(stack[:, 1, 10, 10], torch.tensor([0.0, 0.5, 0.0]))


def test_predict_slices_scores_every_slice():
    from IExplainLib.classifier import build_classifier

    spec = ClassifierSpec(input_size=32)
    model = build_classifier(spec).train()
    volume = Volume(np.random.default_rng(0).integers(-1000, 500, (9, 40, 40)).astype(np.int16))
    scores = predict_slices(model, volume, spec, batch_size=4)
    assert scores.shape == (9,) and np.all((scores >= 0) & (scores <= 1))
    assert model.training  # the caller's mode is restored
    assert np.allclose(scores, predict_slices(model, prepare_study(volume, spec), spec, batch_size=9), atol=1e-5)
