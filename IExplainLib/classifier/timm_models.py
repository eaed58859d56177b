"""The small iexplain EfficientNetV2 variants, registered with timm when this module is imported, as
``timm/models/efficientnet.py`` registers its own. ``backbones.py`` imports it when a network is named or built
(importing timm loads torch, so ``import IExplainLib.classifier`` does not import this module).

``iexplain_efficientnetv2_tiny`` (the default backbone, ~0.5 M parameters) uses EfficientNetV2's block types
(fused-MBConv 'er' stages, then MBConv 'ir' stages with squeeze-excitation) at reduced width and depth, small enough
to train on two CPU cores and to ship with the extension; ``iexplain_efficientnetv2_wide`` is the same network with
1.5x the channels (~1.2 M parameters; docs/reports/experiments.md, experiment 15). No pretrained weights.
"""

from __future__ import annotations

from timm.models import register_model

from ..thirdparty import efficientnet_from_arch

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
_TIMM_ONLY_ARGUMENTS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _small_efficientnetv2(width: float, pretrained: bool, **kwargs):
    if pretrained:
        raise ValueError("the iexplain EfficientNetV2 variants have no pretrained weights")
    for unused in _TIMM_ONLY_ARGUMENTS:
        kwargs.pop(unused, None)
    return efficientnet_from_arch(TINY_ARCH, width, TINY_FEATURES, TINY_STEM, **kwargs)


@register_model
def iexplain_efficientnetv2_tiny(pretrained: bool = False, **kwargs):
    return _small_efficientnetv2(1.0, pretrained, **kwargs)


@register_model
def iexplain_efficientnetv2_wide(pretrained: bool = False, **kwargs):
    return _small_efficientnetv2(1.5, pretrained, **kwargs)
