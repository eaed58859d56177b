"""The loss pitfall: one sigmoid channel scores an empty patch 0 whatever is predicted; ours does not."""

import pytest
import torch
from monai.losses import GeneralizedDiceLoss

from IExplainLib.segmenter.loss import make_loss, one_hot_soft

SHAPE = (2, 1, 8, 8, 8)


def _pe_logits(value: float):
    """2-channel logits whose softmax PE probability is sigmoid(value) everywhere."""
    pe = torch.full(SHAPE, value / 2)
    return torch.cat([-pe, pe], dim=1)


def test_sigmoid_generalized_dice_is_blind_on_empty_patches():
    empty = torch.zeros(SHAPE)
    naive = GeneralizedDiceLoss(sigmoid=True)
    assert naive(torch.full(SHAPE, -10.0), empty).item() == pytest.approx(0.0, abs=1e-6)
    assert naive(torch.full(SHAPE, 10.0), empty).item() == pytest.approx(0.0, abs=1e-6)  # all-PE: also "perfect"


def test_softmax_with_background_punishes_pe_painted_on_an_empty_patch():
    loss = make_loss()
    empty = one_hot_soft(torch.zeros(SHAPE))
    silent = loss(_pe_logits(-10.0), empty).item()
    painted = loss(_pe_logits(10.0), empty).item()
    assert silent < 0.01
    assert painted > 0.9


def test_soft_labels_from_mixup_are_scored_by_closeness():
    loss = make_loss()
    half = one_hot_soft(torch.full(SHAPE, 0.5))
    assert loss(_pe_logits(0.0), half).item() < loss(_pe_logits(8.0), half).item()
    assert loss(_pe_logits(0.0), half).item() < loss(_pe_logits(-8.0), half).item()
