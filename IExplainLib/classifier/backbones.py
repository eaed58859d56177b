"""Backbones: timm EfficientNetV2 with a one-logit head and global max pooling.

``tf_efficientnetv2_l`` is the paper's network; every timm EfficientNetV2 variant can be named. The default,
``iexplain_efficientnetv2_tiny``, uses the same EfficientNetV2 block types (fused-MBConv 'er' stages, then MBConv
'ir' stages with squeeze-excitation) at reduced width and depth: ~0.5 M parameters, small enough to train on two
CPU cores and to ship with the extension. Weights are never downloaded (``pretrained=False``).
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

_registered = False


def register_tiny() -> None:
    """Register ``iexplain_efficientnetv2_tiny`` with timm (once per process)."""
    global _registered
    if _registered:
        return
    import timm
    from timm.models import register_model

    if "iexplain_efficientnetv2_tiny" not in timm.list_models("iexplain_*"):
        def iexplain_efficientnetv2_tiny(pretrained: bool = False, **kwargs):
            import torch.nn as nn
            from timm.models._efficientnet_builder import decode_arch_def, round_channels
            from timm.models.efficientnet import EfficientNet

            if pretrained:
                raise ValueError("iexplain_efficientnetv2_tiny has no pretrained weights")
            for unused in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
                kwargs.pop(unused, None)
            return EfficientNet(
                block_args=decode_arch_def(TINY_ARCH),
                num_features=TINY_FEATURES,
                stem_size=TINY_STEM,
                round_chs_fn=partial(round_channels, multiplier=1.0),
                norm_layer=partial(nn.BatchNorm2d),
                act_layer=nn.SiLU,
                **kwargs,
            )
        iexplain_efficientnetv2_tiny.__module__ = __name__
        register_model(iexplain_efficientnetv2_tiny)
    _registered = True


def available_backbones() -> list[str]:
    import timm

    register_tiny()
    return sorted(set(timm.list_models("iexplain_*")) | set(timm.list_models("*efficientnetv2*")))


def build_classifier(spec: ClassifierSpec):
    """The network for ``spec``: input (N, slices * windows, size, size) -> logits (N, 1)."""
    import timm

    register_tiny()
    if spec.backbone not in available_backbones():
        raise ModelFileError(f"unknown classifier backbone {spec.backbone!r} "
                             "(use iexplain_efficientnetv2_tiny or a timm EfficientNetV2 name, "
                             "e.g. tf_efficientnetv2_l)")
    import torch.nn as nn

    model = timm.create_model(spec.backbone, pretrained=False, in_chans=spec.channels, num_classes=1,
                              global_pool=spec.global_pool, drop_rate=spec.drop_rate)
    # Max-pooled features are large; timm's default head init then starts at logits of +-10, saturating the
    # sigmoid. A small head starts near p = 0.5 and trains from scratch in far fewer steps.
    head = model.get_classifier()
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    return model
