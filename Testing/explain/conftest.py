"""Fixtures of the Stage 2 (iExplain) tests: tiny real torch models, a saved classifier file, tiny phantoms."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class SmallConvNet(nn.Module):
    """A small CNN with BatchNorm, SiLU and max pooling: cheap, but exercises every layer type IG meets."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.SiLU(),
            nn.Conv2d(8, 8, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))


class BrightSpotDetector(nn.Module):
    """Logit = gain * (max over the image of the 5x5 local mean of the slice-averaged input) - offset.

    Real torch modules whose output we control: a window containing a bright 5x5 spot is positive; masking the
    spot out (x * (1 - seg)) makes it negative, so Algorithm 1's stopping rules can each be provoked.
    """

    def __init__(self, channels: int, gain: float = 20.0, offset: float = 10.0):
        super().__init__()
        self.average = nn.Conv2d(channels, 1, 5, padding=2, bias=False)
        nn.init.constant_(self.average.weight, 1.0 / (channels * 25))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(1, 1)
        with torch.no_grad():
            self.head.weight.fill_(gain)
            self.head.bias.fill_(-offset)

    def forward(self, x):
        return self.head(self.pool(self.average(x)).flatten(1))


@pytest.fixture
def detector():
    """BrightSpotDetector for 7-slice windows with one HU window."""
    return BrightSpotDetector(7).eval()


@pytest.fixture
def small_net():
    torch.manual_seed(0)
    model = SmallConvNet(3)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that folding them is really tested
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.fixture(scope="session")
def classifier_file(tmp_path_factory):
    """A classifier model file (default tiny EfficientNetV2, random weights, 32 px input, threshold 0 so every
    window is explained)."""
    from IExplainLib.classifier import ClassifierSpec, build_classifier
    from IExplainLib.modelfile import save_model

    torch.manual_seed(1)
    spec = ClassifierSpec(input_size=32, threshold=0.0)
    model = build_classifier(spec)
    path = tmp_path_factory.mktemp("models") / "tiny-classifier.safetensors"
    save_model(path, model.state_dict(), {"kind": "classifier", "architecture": spec.backbone,
                                          "spec": spec.to_dict()})
    return path


@pytest.fixture(scope="session")
def tiny_study():
    from IExplainLib.phantoms import make_study

    return make_study(seed=5, slices=10, size=48, n_emboli=2)


@pytest.fixture
def fast_flags() -> list[str]:
    """iExplain flags that make a CLI run take seconds (2 IG steps, one reference, 2 iterations)."""
    return ["--ig-steps", "2", "--references", "zero", "--smoothgrad-samples", "1", "--max-iterations", "2",
            "--high-threshold", "3", "--device", "cpu", "--progress", "quiet"]
