"""Using a trained slice classifier: load it from its model file, and score every slice of a study."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, ModelFileError
from ..modelfile import load_model_file, load_state_into
from ..volume import Volume
from .backbones import build_classifier
from .spec import ClassifierSpec
from .windows import prepare_study, windows_for

if TYPE_CHECKING:
    import torch


@dataclass
class LoadedClassifier:
    model: torch.nn.Module  # in eval mode
    spec: ClassifierSpec
    card: dict

    @property
    def threshold(self) -> float:
        return self.spec.threshold


def read_classifier(path: str | Path) -> tuple[dict, ClassifierSpec, dict]:
    """(state dict, spec, card) of a classifier model file; refuses anything else."""
    state_dict, card = load_model_file(path, expected_kind="classifier")
    if not isinstance(card.get("spec"), dict):
        raise ModelFileError(f"{path}: the model card has no classifier spec")
    try:
        spec = ClassifierSpec.from_dict(card["spec"])
    except (InputError, TypeError) as error:
        raise ModelFileError(f"{path}: invalid classifier spec in the card: {error}") from error
    if card.get("architecture") not in (None, spec.backbone):
        raise ModelFileError(f"{path}: card architecture {card.get('architecture')!r} != spec {spec.backbone!r}")
    return state_dict, spec, card


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> LoadedClassifier:
    """Model (eval mode, on ``device``), spec and card of a classifier model file; refuses anything else."""
    import torch

    state_dict, spec, card = read_classifier(path)
    model = build_classifier(spec)
    load_state_into(model, state_dict, path)
    return LoadedClassifier(model.to(torch.device(device) if isinstance(device, str) else device).eval(), spec, card)


def predict_slices(model: torch.nn.Module, volume_or_stack, spec: ClassifierSpec, batch_size: int = 32,
                   device: torch.device | str = "cpu", centres=None) -> np.ndarray:
    """PE probability of every slice (Z,) (or of ``centres`` only) of a Volume, HU array or prepared stack.

    A 4D input is taken as a stack from :func:`prepare_study` (Z, W, S, S); a Volume or 3D array as HU.
    """
    import torch

    if isinstance(volume_or_stack, Volume) or np.ndim(volume_or_stack) == 3:
        stack = prepare_study(volume_or_stack, spec)
    elif np.ndim(volume_or_stack) == 4:
        stack = volume_or_stack
    else:
        raise InputError(f"expected a Volume, a (z, y, x) array or a (Z, W, S, S) stack, got {type(volume_or_stack)}")
    device = torch.device(device) if isinstance(device, str) else device
    centres = np.arange(stack.shape[0]) if centres is None else np.asarray(centres)
    was_training = model.training
    model.eval()
    scores = []
    try:
        with torch.inference_mode():
            for start in range(0, len(centres), batch_size):
                inputs = windows_for(stack, centres[start:start + batch_size], spec).to(device)
                scores.append(torch.sigmoid(model(inputs).float()).reshape(-1).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
