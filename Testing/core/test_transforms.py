"""The shared input transforms and their inverses: windowing (NumPy and torch alike), in-plane resizing in its
three modes, and the classifier's field of view there and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from IExplainLib.transforms import FieldOfView, hu_of_value, resize_in_plane, window_channels, window_hu


def test_window_is_the_same_on_numpy_and_torch_and_inverts_inside_the_window():
    hu = np.array([-1000.0, -250.0, 0.0, 100.0, 449.0, 2000.0], np.float32)
    values = window_hu(hu, 100.0, 700.0)
    assert values.dtype == np.float32 and values.min() == 0.0 and values.max() == 1.0
    assert np.array_equal(window_hu(torch.from_numpy(hu), 100.0, 700.0).numpy(), values)
    inside = (hu > -250) & (hu < 450)
    assert np.allclose([hu_of_value(v, 100.0, 700.0) for v in values[inside]], hu[inside], atol=1e-3)
    channels = window_channels(torch.from_numpy(hu).view(1, 2, 3), [(100.0, 700.0), (40.0, 400.0)])
    assert channels.shape == (1, 2, 2, 3) and torch.equal(channels[0, 0].flatten(), torch.from_numpy(values))


def test_resize_modes():
    checker = np.indices((8, 8)).sum(axis=0) % 2  # the finest pattern: averaging gives 0.5 everywhere
    stack = np.stack([checker, 1 - checker]).astype(np.float32)
    area = resize_in_plane(stack, (4, 4), "auto")
    assert area.shape == (2, 4, 4) and np.allclose(area, 0.5)  # area averaging when shrinking
    antialiased = resize_in_plane(torch.from_numpy(stack)[:, None], (5, 5), "antialiased")[:, 0].numpy()
    plain = resize_in_plane(stack, (5, 5), "bilinear")
    assert np.abs(antialiased - 0.5).max() < 0.05 < 0.2 < np.abs(plain - 0.5).max()  # no aliasing when shrinking
    enlarged = resize_in_plane(stack, (16, 16), "auto")
    assert np.allclose(enlarged, resize_in_plane(stack, (16, 16), "bilinear"))  # auto: bilinear when enlarging
    assert resize_in_plane(stack, (8, 8)) is not None and resize_in_plane(stack, (8, 8)).shape == (2, 8, 8)
    with pytest.raises(ValueError, match="resize mode"):
        resize_in_plane(stack, (4, 4), "nearest")


def test_field_of_view_there_and_back():
    view = FieldOfView.centred((3, 100, 120), (0.5, 0.5, 2.0), 40.0, 20)  # 80 px of the slice centre
    assert view.box == (10, 90, 20, 100) and view.box_shape == (80, 80)
    y, x = np.mgrid[0:100, 0:120].astype(np.float32)
    smooth = np.stack([(x + y) / 220.0] * 3)
    network = view.to_network(torch.from_numpy(view.crop(smooth))[:, None])
    assert network.shape == (3, 1, 20, 20)
    back = view.to_ct(network[:, 0].numpy())
    assert back.shape == smooth.shape and back[:, :10].max() == 0 and back[:, :, 100:].max() == 0
    inner = (slice(None), slice(14, 86), slice(24, 96))  # away from the box edge, where bilinear extrapolates
    assert np.abs(back[inner] - smooth[inner]).max() < 0.01
    whole = FieldOfView.centred((3, 64, 64), None, 40.0, 32)
    assert whole.box == (0, 64, 0, 64)  # no pixel size: the whole slice
