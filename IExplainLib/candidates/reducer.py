"""The false-positive reducers: a network that scores each candidate defect as embolus (1) or look-alike (0).

Three architectures, registered by name (``REDUCERS``) like timm's models:

* ``features-mlp``: the baseline, a 16-unit MLP on the candidate's hand features (``proposals.FEATURE_NAMES``);
* ``rings-mlp``: the same MLP on the hand features and the ring around the candidate in its patches
  (``rings.RING_NAMES``; the shipped reducer since experiment 23);
* ``patch-cnn``: a small CNN on the candidate-centred orthogonal planes (``patches.py``), its pooled image features
  joined to the hand features before the last layers.

All standardise the features they read with the training set's mean and spread, kept as buffers so that the model file
carries them.
"""

from __future__ import annotations

import torch
from torch import nn

from .patches import PATCH_CHANNELS
from .proposals import FEATURE_NAMES
from .rings import RING_NAMES


class _Standardise(nn.Module):
    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def fit(self, features: torch.Tensor) -> None:
        self.mean.copy_(features.mean(0))
        self.scale.copy_(features.std(0).clamp_min(1e-3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale


class FeatureMLP(nn.Module):
    """Hand features -> logit. ``inputs``: how many of the study's feature columns it reads (the first ones)."""

    inputs = len(FEATURE_NAMES)

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.standardise = _Standardise(self.inputs)
        self.head = nn.Sequential(nn.Linear(self.inputs, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, patches: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.standardise(features[:, :self.inputs])).squeeze(1)


class RingsMLP(FeatureMLP):
    """Hand features and the ring around the candidate (``rings.RING_NAMES``) -> logit."""

    inputs = len(FEATURE_NAMES) + len(RING_NAMES)


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(),
                         nn.Conv2d(outputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU())


class PatchCNN(nn.Module):
    """Orthogonal-plane patches (and hand features) -> logit."""

    inputs = len(FEATURE_NAMES)

    def __init__(self, width: int = 16, use_features: bool = True):
        super().__init__()
        self.use_features = use_features
        self.standardise = _Standardise(len(FEATURE_NAMES))
        self.body = nn.Sequential(_block(len(PATCH_CHANNELS), width), nn.MaxPool2d(2), _block(width, 2 * width),
                                  nn.MaxPool2d(2), _block(2 * width, 4 * width))
        joined = 8 * width + (len(FEATURE_NAMES) if use_features else 0)
        self.head = nn.Sequential(nn.Linear(joined, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1))

    def forward(self, patches: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor:
        assert patches is not None, "the patch network needs the candidates' patches"
        maps = self.body(patches)
        pooled = [maps.amax(dim=(2, 3)), maps.mean(dim=(2, 3))]
        if self.use_features:
            pooled.append(self.standardise(features[:, :self.inputs]))
        return self.head(torch.cat(pooled, dim=1)).squeeze(1)


REDUCERS = {"features-mlp": FeatureMLP, "rings-mlp": RingsMLP, "patch-cnn": PatchCNN}


def build_reducer(architecture: str, **options) -> nn.Module:
    if architecture not in REDUCERS:
        raise ValueError(f"unknown reducer {architecture!r}: choose one of {', '.join(REDUCERS)}")
    return REDUCERS[architecture](**options)


def needs_patches(model: nn.Module) -> bool:
    return isinstance(model, PatchCNN)
