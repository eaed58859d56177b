"""Training augmentation of the 2.5D inputs, applied to whole batches on the training device.

The paper's recipe: aggressive Cutout (random in-plane boxes zeroed through every slice of the mini-volume, which
also teaches the network the ``x * (1 - mask)`` inputs that Stage 2 produces) plus the usual flips, affine and
contrast changes. Batched tensor ops (``affine_grid``/``grid_sample``) keep it on the GPU instead of per-sample
CPU transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Cutout:
    """Zero up to ``holes`` random boxes per sample (probability ``p`` each), every channel alike.

    Box sides are drawn uniformly in [min_fraction, max_fraction] of the image side.
    """

    p: float = 0.7
    holes: int = 2
    min_fraction: float = 0.1
    max_fraction: float = 0.4

    def boxes(self, batch: int, height: int, width: int, generator=None):
        """(B, holes, 4) boxes (y0, x0, y1, x1) and (B, holes) bool of the boxes actually applied."""
        import torch

        def uniform(*shape):
            return torch.rand(*shape, generator=generator)

        span = self.max_fraction - self.min_fraction
        box_h = ((self.min_fraction + span * uniform(batch, self.holes)) * height).long().clamp(min=1)
        box_w = ((self.min_fraction + span * uniform(batch, self.holes)) * width).long().clamp(min=1)
        y0 = (uniform(batch, self.holes) * (height - box_h + 1)).long()
        x0 = (uniform(batch, self.holes) * (width - box_w + 1)).long()
        applied = uniform(batch, self.holes) < self.p
        return torch.stack([y0, x0, y0 + box_h, x0 + box_w], dim=-1), applied

    def __call__(self, x, generator=None):
        import torch

        batch, _, height, width = x.shape
        boxes, applied = self.boxes(batch, height, width, generator)
        boxes, applied = boxes.to(x.device), applied.to(x.device)
        ys = torch.arange(height, device=x.device).view(1, 1, height, 1)
        xs = torch.arange(width, device=x.device).view(1, 1, 1, width)
        y0, x0, y1, x1 = (boxes[..., i].view(batch, -1, 1, 1) for i in range(4))
        inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1) & applied.view(batch, -1, 1, 1)
        keep = (~inside.any(dim=1, keepdim=True)).to(x.dtype)
        return x * keep


@dataclass
class TrainAugment:
    """Flips (left-right, and slice order reversed), random affine, contrast/brightness, then Cutout."""

    flip_lr: float = 0.5
    flip_slices: float = 0.5
    affine_p: float = 0.8
    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    translate: float = 0.08
    contrast: tuple[float, float] = (0.8, 1.2)
    brightness: float = 0.08
    cutout: Cutout = field(default_factory=Cutout)
    slices: int = 7
    windows: int = 1

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        batch = x.shape[0]
        device = x.device

        def chance(p):
            return (torch.rand(batch, device=device) < p).view(batch, 1, 1, 1)

        x = torch.where(chance(self.flip_lr), x.flip(-1), x)
        # reversing the slice order keeps the centre slice (the label) in place; channels are window-major
        reversed_slices = x.view(batch, self.windows, self.slices, *x.shape[-2:]).flip(2).reshape(x.shape)
        x = torch.where(chance(self.flip_slices), reversed_slices, x)

        angle = (torch.rand(batch, device=device) * 2 - 1) * math.radians(self.rotate_deg)
        zoom = torch.empty(batch, device=device).uniform_(*self.scale)
        shift = (torch.rand(batch, 2, device=device) * 2 - 1) * self.translate * 2  # grid units span [-1, 1]
        use = torch.rand(batch, device=device) < self.affine_p
        angle, zoom = torch.where(use, angle, 0.0), torch.where(use, zoom, 1.0)
        shift = torch.where(use.view(-1, 1), shift, 0.0)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

        gain = torch.empty(batch, 1, 1, 1, device=device).uniform_(*self.contrast)
        offset = (torch.rand(batch, 1, 1, 1, device=device) * 2 - 1) * self.brightness
        x = ((x - 0.5) * gain + 0.5 + offset).clamp(0.0, 1.0)
        return self.cutout(x)
