"""The one place that uses private APIs of dependencies, so that a release that moves them breaks here only.

Tested with captum 0.7-0.9 and timm 1.0.9-1.0.31 (``pyproject.toml`` pins ``captum<0.10`` and ``timm<1.1``);
``Testing/core/test_thirdparty.py`` checks each entry against the installed versions.

* Captum's IG quadrature (``captum.attr._utils.approximation_methods``): the batched IG engine uses Captum's own step
  sizes and alphas, so its result equals Captum's.
* timm's EfficientNet builder (``timm.models._efficientnet_builder``): the small iexplain EfficientNetV2 variants
  are built from its block strings.
* timm ``EfficientNet`` internals (``conv_stem``, ``bn1``, ``blocks``, ``conv_head``, ``bn2``, ``forward_head``):
  the attribution model splits the affine stem off the rest of the network.
"""

from __future__ import annotations

from typing import Callable

EFFICIENTNET_PARTS = ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "forward_head")


def ig_quadrature(method: str) -> tuple[Callable[[int], list[float]], Callable[[int], list[float]]]:
    """Captum's ``(step_sizes(n), alphas(n))`` functions of an IG quadrature; ValueError for an unknown name."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    return approximation_parameters(method)


def efficientnet_from_arch(arch: list[list[str]], width: float, num_features: int, stem_size: int, **kwargs):
    """A timm ``EfficientNet`` from block strings (timm's ``decode_arch_def``), every stage's channels and
    ``num_features`` scaled by ``width`` and rounded as timm rounds them. ``stem_size`` is scaled here and once more
    by timm's own ``round_chs_fn`` (width squared; kept so that the weights of the wide variant keep their shape)."""
    from functools import partial

    import torch.nn as nn
    from timm.models._efficientnet_builder import decode_arch_def, round_channels
    from timm.models.efficientnet import EfficientNet

    return EfficientNet(
        block_args=decode_arch_def(arch),
        num_features=round_channels(num_features, width),
        stem_size=round_channels(stem_size, width),
        round_chs_fn=partial(round_channels, multiplier=width),
        norm_layer=partial(nn.BatchNorm2d),
        act_layer=nn.SiLU,
        **kwargs,
    )


def is_timm_efficientnet(model) -> bool:
    """Whether ``model`` has the parts of timm's ``EfficientNet.forward`` that :func:`efficientnet_after_stem` runs."""
    import torch.nn as nn

    return all(hasattr(model, part) for part in EFFICIENTNET_PARTS) and isinstance(model.conv_stem, nn.Conv2d)


def efficientnet_after_stem(model, stem_output):
    """timm ``EfficientNet.forward`` from just after ``conv_stem`` (its ``forward_features`` minus the first op)."""
    x = model.bn1(stem_output)
    x = model.blocks(x)
    x = model.bn2(model.conv_head(x))
    return model.forward_head(x)
