"""Refusing volumes that are not CT in Hounsfield units before a model sees them.

A label map, a heat map, an MR or a CT exported with a display window would otherwise run through the models and
come back as confident nonsense. A chest CT always holds air (the lungs, around the body) near -1000 HU and soft
tissue or contrast above -100 HU, so the check asks for both, on a subsample, which costs milliseconds.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedInputError
from ..volume import Volume

AIR_HU = -500.0     # the darkest percent of a chest CT lies below this (lungs, air around the body)
TISSUE_HU = -100.0  # the brightest percent lies above this (soft tissue, contrast, bone)


def require_ct_hounsfield(volume: Volume, source: str = "input") -> None:
    """Raise a one-line error unless ``volume`` looks like a chest CT in Hounsfield units."""
    array = np.asarray(volume.array)
    if array.dtype == bool or array.size == 0:
        raise UnsupportedInputError(f"{source} is not a CT image (a mask or an empty volume)")
    step = max(1, array.size // 2_000_000)
    sample = array.reshape(-1)[::step].astype(np.float32)
    low, high = np.percentile(sample, [1, 99])
    if low > AIR_HU or high < TISSUE_HU:
        raise UnsupportedInputError(
            f"{source} does not look like a CT in Hounsfield units (1st-99th percentile {low:.0f} .. {high:.0f}; a "
            f"chest CT has air below {AIR_HU:.0f} HU and tissue above {TISSUE_HU:.0f} HU): is it a label map, a "
            "heat map, an MR or a windowed export?")
