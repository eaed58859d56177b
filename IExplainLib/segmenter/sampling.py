"""Balanced patch sampling with a random crop.

Half of the patches (``positive_fraction``) contain PE: a random PE voxel is drawn and the patch is placed at a
random offset around it (the RandomCrop of the paper, so the embolus is not always in the patch centre); the other
patches are random crops anywhere in a random case (mostly PE-free). This is MONAI's RandCropByPosNegLabel idea with
the PE voxel lists computed once per case instead of once per draw, which matters for full-size studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

POSITIVE_LEVEL = 0.5  # a network voxel counts as PE when at least half of it is PE (soft labels after resampling)


@dataclass
class TrainingArrays:
    """One case on the network grid: the network's input (channels, z, y, x: the windowed image in [0, 1], then any
    guidance channel) and the soft PE label (z, y, x), float16."""

    case_id: str
    image: np.ndarray
    label: np.ndarray
    positives: np.ndarray  # (n, 3) int32 indices of PE voxels (subsampled)

    @classmethod
    def build(cls, case_id: str, image: np.ndarray, label: np.ndarray, max_positives: int = 20000,
              seed: int = 0) -> "TrainingArrays":
        if image.ndim == 3:
            image = image[None]
        if image.shape[1:] != label.shape:
            raise ValueError(f"{case_id}: image {image.shape[1:]} and label {label.shape} differ")
        positives = np.argwhere(label >= POSITIVE_LEVEL).astype(np.int32)
        if len(positives) > max_positives:
            keep = np.random.default_rng(seed).choice(len(positives), max_positives, replace=False)
            positives = positives[np.sort(keep)]
        return cls(case_id, image.astype(np.float16), label.astype(np.float16), positives)


class BalancedPatchSampler:
    def __init__(self, cases: list[TrainingArrays], patch_size: tuple[int, int, int],
                 positive_fraction: float = 0.5, seed: int = 0):
        if not cases:
            raise ValueError("no training cases")
        self.cases = cases
        self.patch_size = tuple(int(p) for p in patch_size)
        self.positive_fraction = float(positive_fraction)
        self.rng = np.random.default_rng(seed)
        self.positive_cases = [index for index, case in enumerate(cases) if len(case.positives)]

    def _start_for(self, shape, centre=None) -> list[int]:
        starts = []
        for axis, (size, patch) in enumerate(zip(shape, self.patch_size)):
            room = size - patch
            if room <= 0:
                starts.append(room // 2)  # negative: the patch is padded on both sides
            elif centre is None:
                starts.append(int(self.rng.integers(0, room + 1)))
            else:
                # any patch position that still contains the chosen PE voxel (random crop around it)
                low = max(0, int(centre[axis]) - patch + 1)
                high = min(room, int(centre[axis]))
                starts.append(int(self.rng.integers(low, high + 1)))
        return starts

    def _crop(self, array: np.ndarray, starts) -> np.ndarray:
        """The patch at ``starts`` of the last three axes (any leading channel axis kept), zero outside."""
        leading = array.shape[:-3]
        out = np.zeros(leading + self.patch_size, dtype=np.float32)
        source, target = [slice(None)] * len(leading), [slice(None)] * len(leading)
        for start, size, patch in zip(starts, array.shape[-3:], self.patch_size):
            begin, end = max(0, start), min(size, start + patch)
            source.append(slice(begin, end))
            target.append(slice(begin - start, end - start))
        out[tuple(target)] = array[tuple(source)]
        return out

    def draw(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """One ``(image, label, positive)`` patch: image (channels, z, y, x), label (z, y, x), float32."""
        positive = bool(self.positive_cases) and self.rng.random() < self.positive_fraction
        if positive:
            case = self.cases[self.positive_cases[int(self.rng.integers(len(self.positive_cases)))]]
            centre = case.positives[int(self.rng.integers(len(case.positives)))]
        else:
            case = self.cases[int(self.rng.integers(len(self.cases)))]
            centre = None
        starts = self._start_for(case.label.shape, centre)
        return self._crop(case.image, starts), self._crop(case.label, starts), positive

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` shaped (batch, channels, z, y, x) and (batch, 1, z, y, x)."""
        images, labels = zip(*[self.draw()[:2] for _ in range(size)])
        return np.stack(images), np.stack(labels)[:, None]

    def state(self) -> Mapping[str, Any]:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state
