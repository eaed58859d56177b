"""Starting a classifier run from another model (``--init``): its weights and spec, what a warm start may change,
and HU windows added after the model's own (the first convolution widened with zero weights)."""

from __future__ import annotations

from dataclasses import replace

from ..errors import InputError
from .backbones import build_classifier
from .spec import ClassifierSpec


# Spec fields a convolutional network's weights do not depend on: a warm start may change them.
TRANSFERABLE_FIELDS = ("threshold", "input_size", "field_of_view_mm", "region")


def initial_weights(init, spec: ClassifierSpec | None):
    """(state dict, spec, commands that made it) of the classifier model file ``init``. A ``spec`` asked for may
    differ from the model's only in :data:`TRANSFERABLE_FIELDS` (input size, field of view, region) and by HU windows
    added after the model's own (:func:`widen_stem`)."""
    from .inference import read_classifier

    state_dict, init_spec, card = read_classifier(init)
    same = {name: getattr(init_spec, name) for name in TRANSFERABLE_FIELDS}
    extends = spec is not None and _adds_windows(init_spec.hu_windows, spec.hu_windows)
    if extends:
        same["hu_windows"] = init_spec.hu_windows
    if spec is not None and replace(spec, **same).to_dict() != init_spec.to_dict():
        raise InputError(f"--init {init}: its classifier spec differs from the one asked for "
                         "(backbone and slices come from the initial model; windows may only be added after its own)")
    if extends and spec is not None:
        # a model file's tensors are stored by name, not in layer order: the network says which layer comes first
        first_layer = next(k for k, v in build_classifier(init_spec).state_dict().items() if v.ndim == 4)
        state_dict = widen_stem(state_dict, first_layer, spec.slices * len(spec.hu_windows), init)
    training = card.get("training")
    if not isinstance(training, dict):
        training = {}
    chosen = init_spec if spec is None else replace(spec, threshold=init_spec.threshold)
    return state_dict, chosen, [str(c) for c in training.get("commands", [])]


def _adds_windows(old, new) -> bool:
    old, new = [tuple(map(float, w)) for w in old], [tuple(map(float, w)) for w in new]
    return len(new) > len(old) and new[:len(old)] == old


def widen_stem(state_dict: dict, first_layer: str, channels: int, source) -> dict:
    """``state_dict`` with its first convolution ``first_layer`` taking ``channels`` inputs. Channels are
    window-major, so added windows are the last inputs; their weights start at zero: the widened network computes
    exactly what the initial model did, and training alone decides what the new windows are worth."""
    import torch

    weight = state_dict.get(first_layer)
    if weight is None or weight.ndim != 4 or weight.shape[1] >= channels:
        raise InputError(f"--init {source}: its first convolution {first_layer} cannot be widened to {channels} inputs")
    extra = torch.zeros((weight.shape[0], channels - weight.shape[1], *weight.shape[2:]), dtype=weight.dtype)
    return {**state_dict, first_layer: torch.cat([weight, extra], dim=1)}
