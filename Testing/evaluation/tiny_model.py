"""A tiny untrained slice classifier saved as a real model file (safetensors + card), for fast explainer runs."""

from pathlib import Path

import torch

from IExplainLib.classifier import ClassifierSpec, build_classifier
from IExplainLib.modelfile import save_model

# Small and quick: 3 slices, 32 px; threshold 0 so that every window counts as positive and is explained.
TINY_SPEC = ClassifierSpec(slices=3, input_size=32, threshold=0.0)
FAST_EXPLAIN = ["--ig-steps", "2", "--references", "zero", "--smoothgrad-samples", "1", "--device", "cpu", "--progress", "quiet"]
PHANTOM_ARGS = ["--phantom-size", "64", "--phantom-slices", "8"]


def save_tiny_classifier(folder: Path, high_threshold: float = 2.0) -> Path:
    torch.manual_seed(0)
    model = build_classifier(TINY_SPEC)
    path = folder / "tiny-classifier.safetensors"
    save_model(path, model.state_dict(), {"kind": "classifier", "architecture": TINY_SPEC.backbone,
                                          "spec": TINY_SPEC.to_dict(),
                                          "explain": {"high_threshold": high_threshold, "max_iterations": 2}})
    return path
