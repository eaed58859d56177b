"""Backbones: timm EfficientNetV2 (or another timm CNN) with a one-logit head and global max pooling.

``tf_efficientnetv2_l`` is the paper's network; every timm EfficientNetV2 variant can be named, and so can any other
timm convolutional network that pools its feature map with timm's adaptive pooling (``mobilenetv3_small_100``,
``lcnet_050``, ``resnet18``, ...): those are for comparing network shapes per CPU-second (see
docs/reports/experiments.md); transformers are refused (max pooling over a feature map is the method). The default,
``iexplain_efficientnetv2_tiny``, uses the same EfficientNetV2 block types (fused-MBConv 'er' stages, then MBConv
'ir' stages with squeeze-excitation) at reduced width and depth: ~0.5 M parameters, small enough to train on two
CPU cores and to ship with the extension; ``iexplain_efficientnetv2_wide`` is the same network with 1.5x the channels
(~1.2 M parameters). Weights are never downloaded (``pretrained=False``).
"""

from __future__ import annotations

from functools import partial

from ..errors import ModelFileError
from .spec import ClassifierSpec

TINY_ARCH = [
    ["cn_r1_k3_s1_e1_c16_skip"],
    ["er_r1_k3_s2_e4_c24"],
    ["er_r2_k3_s2_e4_c32"],
    ["ir_r2_k3_s2_e4_c64_se0.25"],
    ["ir_r2_k3_s1_e4_c80_se0.25"],
    ["ir_r2_k3_s2_e4_c112_se0.25"],
]
TINY_FEATURES = 384
TINY_STEM = 16
# Channel multipliers of the small variants: the default, and a wider one (~2.2x the parameters) for asking
# whether the default's width is what caps it (docs/reports/experiments.md, experiment 15).
SMALL_VARIANTS = {"iexplain_efficientnetv2_tiny": 1.0, "iexplain_efficientnetv2_wide": 1.5}

_registered = False


def _small_efficientnetv2(width: float, pretrained: bool = False, **kwargs):
    import torch.nn as nn
    from timm.models._efficientnet_builder import decode_arch_def, round_channels
    from timm.models.efficientnet import EfficientNet

    if pretrained:
        raise ValueError("the iexplain EfficientNetV2 variants have no pretrained weights")
    for unused in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(unused, None)
    return EfficientNet(
        block_args=decode_arch_def(TINY_ARCH),
        num_features=round_channels(TINY_FEATURES, width),
        stem_size=round_channels(TINY_STEM, width),
        round_chs_fn=partial(round_channels, multiplier=width),
        norm_layer=partial(nn.BatchNorm2d),
        act_layer=nn.SiLU,
        **kwargs,
    )


def register_tiny() -> None:
    """Register the small iexplain EfficientNetV2 variants (``SMALL_VARIANTS``) with timm, once per process."""
    global _registered
    if _registered:
        return
    import timm
    from timm.models import register_model

    registered = set(timm.list_models("iexplain_*"))
    for name, width in SMALL_VARIANTS.items():
        if name not in registered:
            factory = partial(_small_efficientnetv2, width)
            factory.__name__ = name
            factory.__module__ = __name__
            register_model(factory)
    _registered = True


def available_backbones() -> list[str]:
    """The method's family: timm's EfficientNetV2 variants and ``iexplain_efficientnetv2_tiny``. Other timm CNNs
    are accepted by :func:`build_classifier` too (see the module docstring)."""
    import timm

    register_tiny()
    return sorted(set(timm.list_models("iexplain_*")) | set(timm.list_models("*efficientnetv2*")))


def build_classifier(spec: ClassifierSpec):
    """The network for ``spec``: input (N, slices * windows, size, size) -> logits (N, 1)."""
    import timm
    import torch.nn as nn
    from timm.layers import SelectAdaptivePool2d

    register_tiny()
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
    head = model.get_classifier()
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    return model
