"""Training augmentations: Stage 1's recipe (classifier/augment.py: flips, affine, contrast) in 3D without Cutout,
plus Mixup.

They run batched on the training device with ``affine_grid``/``grid_sample``, on image and soft label together
(bilinear on both: the label stays a PE fraction, which the soft-label Dice loss takes as is). Cutout is left out
as the paper does: zeroing a box that holds an embolus would teach that a PE label can sit on blank image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class AugmentConfig:
    flip_lr: float = 0.5                   # same values as Stage 1's TrainAugment
    flip_slices: float = 0.5
    affine_p: float = 0.8
    rotate_deg: float = 15.0               # in-plane (about z)
    scale: tuple[float, float] = (0.85, 1.15)
    translate: float = 0.08
    contrast: tuple[float, float] = (0.8, 1.2)
    brightness: float = 0.08
    mixup_alpha: float = 0.4               # Beta(alpha, alpha); 0 disables Mixup
    mixup_p: float = 0.5


def _uniform(batch, low, high, generator, device):
    import torch

    return (torch.rand(batch, generator=generator) * (high - low) + low).to(device)


def spatial_augment(images, labels, config: AugmentConfig, generator):
    """Flips and in-plane rotation/zoom/shift of (B, C, z, y, x) images and labels, together."""
    import torch
    import torch.nn.functional as F

    batch, device = images.shape[0], images.device

    def chance(p):
        return (_uniform(batch, 0.0, 1.0, generator, device) < p).view(batch, 1, 1, 1, 1)

    flip = chance(config.flip_lr)
    images, labels = torch.where(flip, images.flip(-1), images), torch.where(flip, labels.flip(-1), labels)
    flip = chance(config.flip_slices)
    images, labels = torch.where(flip, images.flip(-3), images), torch.where(flip, labels.flip(-3), labels)

    use = _uniform(batch, 0.0, 1.0, generator, device) < config.affine_p
    angle = torch.where(use, _uniform(batch, -1.0, 1.0, generator, device) * math.radians(config.rotate_deg), 0.0)
    zoom = torch.where(use, _uniform(batch, *config.scale, generator, device), 1.0)
    shift_x = torch.where(use, _uniform(batch, -1.0, 1.0, generator, device) * 2 * config.translate, 0.0)
    shift_y = torch.where(use, _uniform(batch, -1.0, 1.0, generator, device) * 2 * config.translate, 0.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zero, one = torch.zeros_like(cos), torch.ones_like(cos)
    # affine_grid's coordinates are (x, y, z): rotate and zoom x-y, leave z alone
    theta = torch.stack([torch.stack([cos, -sin, zero, shift_x], 1),
                         torch.stack([sin, cos, zero, shift_y], 1),
                         torch.stack([zero, zero, one, zero], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    labels = F.grid_sample(labels, grid.to(labels.dtype), mode="bilinear", padding_mode="border",
                           align_corners=False)
    return images, labels


def intensity_augment(images, config: AugmentConfig, generator):
    """Contrast gain around mid-grey and a brightness offset (Stage 1's), on the [0, 1] CT channel (the first); a
    guidance channel is a map of where, not an intensity, and is left as it is."""
    import torch

    batch, device = images.shape[0], images.device
    shape = (batch, 1, 1, 1, 1)
    gain = _uniform(batch, *config.contrast, generator, device).view(shape)
    offset = (_uniform(batch, -1.0, 1.0, generator, device) * config.brightness).view(shape)
    ct = ((images[:, :1] - 0.5) * gain + 0.5 + offset).clamp(0.0, 1.0)
    return ct if images.shape[1] == 1 else torch.cat([ct, images[:, 1:]], 1)


def mixup(images, labels, config: AugmentConfig, generator):
    """Mixup (Zhang et al. 2018): blend each patch and its one-hot label with another patch of the batch."""
    import torch

    if config.mixup_alpha <= 0 or images.shape[0] < 2:
        return images, labels
    if float(torch.rand(1, generator=generator)) >= config.mixup_p:
        return images, labels
    weight = float(torch.distributions.Beta(config.mixup_alpha, config.mixup_alpha).sample())
    order = torch.randperm(images.shape[0], generator=generator).to(images.device)
    return (weight * images + (1 - weight) * images[order],
            weight * labels + (1 - weight) * labels[order])


def augment_batch(images, labels, config: AugmentConfig, generator):
    """Full training augmentation of (B, C, ...) images and (B, 2, ...) one-hot soft labels."""
    images, labels = spatial_augment(images, labels, config, generator)
    images = intensity_augment(images, config, generator)
    return mixup(images, labels, config, generator)
