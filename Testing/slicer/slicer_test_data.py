"""Small test images shared by the Slicer module tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import numpy as np


def oblique_volume(shape=(12, 24, 20), seed=0):
    """A small CT-like Volume on an anisotropic, rotated grid, so geometry mistakes cannot hide."""
    from IExplainLib.volume import Volume

    angle = np.deg2rad(12.0)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    rng = np.random.default_rng(seed)
    array = rng.integers(-1000, 400, size=shape).astype(np.int16)
    return Volume(array, spacing=(0.7, 0.8, 2.5), origin=(-12.5, 30.25, -101.0), direction=direction)


def iteration_labelmap(shape):
    """Three findings: iteration k has label k; iteration 2 spans several slices."""
    labels = np.zeros(shape, dtype=np.uint8)
    labels[2:4, 3:7, 4:8] = 1
    labels[5:9, 10:13, 9:12] = 2
    labels[10, 18:20, 15:18] = 3
    return labels
