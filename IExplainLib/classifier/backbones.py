"""Backbones: timm EfficientNetV2 (or another timm CNN) with a one-logit head and global max pooling.

``tf_efficientnetv2_l`` is the paper's network; every timm EfficientNetV2 variant can be named, and so can any other
timm convolutional network that pools its feature map with timm's adaptive pooling (``mobilenetv3_small_100``,
``lcnet_050``, ``resnet18``, ...): those are for comparing network shapes per CPU-second (see
docs/reports/experiments.md); transformers are refused (max pooling over a feature map is the method). The default,
``iexplain_efficientnetv2_tiny``, and its wider sibling are registered with timm in ``timm_models.py``. Weights are
never downloaded (``pretrained=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ModelFileError
from .spec import ClassifierSpec

if TYPE_CHECKING:
    import torch


def available_backbones() -> list[str]:
    """The method's family: timm's EfficientNetV2 variants and ``iexplain_efficientnetv2_tiny``. Other timm CNNs
    are accepted by :func:`build_classifier` too (see the module docstring)."""
    import timm

    from . import timm_models  # noqa: F401  (registers the iexplain variants with timm)

    return sorted(set(timm.list_models("iexplain_*")) | set(timm.list_models("*efficientnetv2*")))


def build_classifier(spec: ClassifierSpec) -> torch.nn.Module:
    """The network for ``spec``: input (N, slices * windows, size, size) -> logits (N, 1)."""
    import timm
    import torch.nn as nn
    from timm.layers import SelectAdaptivePool2d

    if spec.backbone not in available_backbones() and not timm.is_model(spec.backbone):
        raise ModelFileError(f"unknown classifier backbone {spec.backbone!r} "
                             "(use iexplain_efficientnetv2_tiny, a timm EfficientNetV2 name such as "
                             "tf_efficientnetv2_l, or another timm CNN such as mobilenetv3_small_100)")
    try:
        model = timm.create_model(spec.backbone, pretrained=False, in_chans=spec.channels, num_classes=1,
                                  global_pool=spec.global_pool, drop_rate=spec.drop_rate)
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        raise ModelFileError(f"classifier backbone {spec.backbone!r} cannot be built as a "
                             f"{spec.global_pool}-pooled CNN: {error}") from None
    if not isinstance(getattr(model, "global_pool", None), SelectAdaptivePool2d):
        raise ModelFileError(f"classifier backbone {spec.backbone!r} is not a convolutional network that pools a "
                             "feature map (a transformer?): the classifier needs global max pooling")
    # Max-pooled features are large; timm's default head init then starts at logits of +-10, saturating the
    # sigmoid. A small head starts near p = 0.5 and trains from scratch in far fewer steps.
    # timm.create_model is annotated as returning nn.Module, whose __getattr__ gives Tensor | Module
    head = model.get_classifier()  # type: ignore[operator]
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    return model
