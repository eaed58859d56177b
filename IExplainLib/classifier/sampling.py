"""Which slices each training step sees: balanced positive/negative sampling, sharded across torchrun processes.

PE-positive slices are a small minority; drawing positives and negatives equally often (with replacement) keeps
the classifier from settling on "no PE". Like ``DistributedSampler``, every process draws the same epoch-seeded
list and keeps its own share, so processes never see the same samples in a step.
"""

from __future__ import annotations

import numpy as np


class BalancedDistributedSampler:
    def __init__(self, labels: np.ndarray, samples_per_epoch: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, positive_fraction: float = 0.5, stream: int = 0):
        self.labels = np.asarray(labels) > 0.5
        self.samples_per_epoch = int(samples_per_epoch)
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.stream = int(stream)  # another draw for the same seed (a continued run's phase); 0 = the seed's own
        self.positive_fraction = positive_fraction if self.labels.any() and (~self.labels).any() else None
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Start ``epoch``; ``skip`` drops this process's first samples (resuming mid-epoch)."""
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.samples_per_epoch // self.world_size - self.skip

    def _epoch_indices(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch] if self.stream == 0 else
                                    [self.seed, self.epoch, self.stream])
        if self.positive_fraction is None:  # one class only: plain shuffled draw
            return rng.integers(0, len(self.labels), self.samples_per_epoch)
        positives, negatives = np.flatnonzero(self.labels), np.flatnonzero(~self.labels)
        is_positive = rng.random(self.samples_per_epoch) < self.positive_fraction
        return np.where(is_positive, rng.choice(positives, self.samples_per_epoch),
                        rng.choice(negatives, self.samples_per_epoch))

    def __iter__(self):
        share = self._epoch_indices()[self.rank::self.world_size][: self.samples_per_epoch // self.world_size]
        return iter(share[self.skip:].tolist())
