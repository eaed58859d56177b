"""Hard-negative mining: where in a PE-negative slice does the classifier see the most evidence for PE?

Why: with global max pooling, a slice's score is its single most PE-like place. A patch-trained classifier
separates clot patches from vessel patches well, yet scores whole negative slices high because *somewhere* in each
slice a structure (a vein, an unopacified lower-lobe artery, a bronchus wall) looks like a clot; and random
negative patches rarely contain that place. Mining it with the current network and training on patches centred
there is the classic cure (a detector's hard-negative bootstrapping).

The place is found without any extra model: for the pooled logit ``sum_c w_c * max_l f_c(l)`` each channel's
maximum sits at one location; the location holding the largest positive share of the logit is the answer.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .data import PreparedStudy
from .spec import ClassifierSpec
from .windows import windows_for


def evidence_location(model, inputs) -> np.ndarray:
    """(B, 2) (y, x) pixel of each input where the max-pooled logit's largest positive share lies.

    ``model`` is a timm classifier (``forward_features`` + linear ``classifier`` head) in eval mode.
    """
    import torch

    with torch.inference_mode():
        features = model.forward_features(inputs)              # (B, F, h, w)
        batch, channels, height, width = features.shape
        flat = features.reshape(batch, channels, -1)
        peak, where = flat.max(dim=-1)                          # (B, F): each channel's max and its location
        weight = model.get_classifier().weight.reshape(-1)[:channels]
        share = (peak * weight).clamp_min(0.0)                  # positive contributions to the logit
        per_location = torch.zeros(batch, height * width, device=inputs.device).scatter_add_(1, where, share)
        best = per_location.argmax(dim=1).cpu().numpy()
    cell_y, cell_x = np.divmod(best, width)
    size_y, size_x = inputs.shape[-2] / height, inputs.shape[-1] / width
    return np.stack([(cell_y + 0.5) * size_y, (cell_x + 0.5) * size_x], axis=1).astype(np.int64)


def mine_hard_negatives(model, studies: Sequence[PreparedStudy], spec: ClassifierSpec, device="cpu",
                        batch_size: int = 64) -> list[dict[int, tuple[int, int]]]:
    """Per study, {negative slice index: (y, x) of the strongest PE evidence} under the current ``model``."""
    return mine_evidence(model, studies, spec, device, batch_size, positive=False)


def mine_evidence(model, studies: Sequence[PreparedStudy], spec: ClassifierSpec, device="cpu", batch_size: int = 64,
                  positive: bool = False) -> list[dict[int, tuple[int, int]]]:
    """Per study, {slice index: (y, x) of the strongest PE evidence} for its negative slices, or with ``positive``
    its PE slices: where the current network would place the clot, from the slice label alone (no voxel truth)."""
    was_training = model.training
    model.eval()
    try:
        mined = []
        for study in studies:
            labels = np.asarray(study.labels)
            chosen = np.flatnonzero(labels >= 0.5 if positive else labels < 0.5)
            found: dict[int, tuple[int, int]] = {}
            for start in range(0, len(chosen), batch_size):
                centres = chosen[start:start + batch_size]
                locations = evidence_location(model, windows_for(study.stack, centres, spec).to(device))
                found.update({int(z): (int(y), int(x)) for z, (y, x) in zip(centres, locations)})
            mined.append(found)
        return mined
    finally:
        model.train(was_training)
