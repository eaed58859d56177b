"""The segmentation loss: Generalized Dice on a 2-class softmax, background included, soft labels.

Why not one sigmoid channel: MONAI's ``GeneralizedDiceLoss(sigmoid=True)`` on a patch without PE returns 0 whatever
the network predicts (the only class has no voxels, its weight is set to 0, the ratio becomes 0/0 -> smoothed to 0),
so half of the balanced batches (the negative patches) would teach nothing and false positives would go unpunished.
With the background channel the empty patch is scored by how much PE the network paints on it.
``soft_label=True`` because Mixup and in-plane resampling make label values between 0 and 1.
"""

from __future__ import annotations


def make_loss():
    from monai.losses import GeneralizedDiceLoss

    return GeneralizedDiceLoss(include_background=True, softmax=True, soft_label=True)


def one_hot_soft(labels):
    """(B, 1, ...) PE fraction -> (B, 2, ...) [background, PE]."""
    import torch

    labels = labels.clamp(0, 1)
    return torch.cat([1 - labels, labels], dim=1)
