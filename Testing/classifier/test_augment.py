"""Augmentation: Cutout zeroes whole boxes through every slice; the rest keeps shape, range and the centre slice."""

import torch

from IExplainLib.classifier import Cutout, TrainAugment


def test_cutout_zeroes_boxes_through_all_channels_and_nothing_else():
    cutout = Cutout(p=1.0, holes=1, min_fraction=0.2, max_fraction=0.4)
    x = torch.rand(8, 7, 40, 40) * 0.9 + 0.1  # no zeros before
    generator = torch.Generator().manual_seed(3)
    out = cutout(x, generator=generator)
    boxes, applied = cutout.boxes(8, 40, 40, torch.Generator().manual_seed(3))
    assert applied.all()
    for sample, (y0, x0, y1, x1) in enumerate(boxes[:, 0].tolist()):
        zero = out[sample] == 0
        expected = torch.zeros(40, 40, dtype=torch.bool)
        expected[y0:y1, x0:x1] = True
        assert torch.equal(zero, expected.expand(7, 40, 40))
        assert 8 <= y1 - y0 <= 16 and 8 <= x1 - x0 <= 16
        assert torch.equal(out[sample][~zero], x[sample][~zero])


def test_cutout_probability_zero_is_identity():
    x = torch.rand(4, 7, 16, 16)
    assert torch.equal(Cutout(p=0.0)(x), x)


def test_train_augment_keeps_shape_range_and_varies():
    torch.manual_seed(0)
    x = torch.rand(16, 14, 32, 32)
    out = TrainAugment(slices=7, windows=2)(x)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)
    assert (out == 0).flatten(1).any(dim=1).float().mean() > 0.3  # Cutout is aggressive


def test_slice_flip_keeps_the_centre_slice():
    x = torch.arange(7.0).view(1, 7, 1, 1).expand(64, 7, 8, 8).contiguous()
    augment = TrainAugment(flip_lr=0, flip_slices=1.0, affine_p=0, contrast=(1, 1), brightness=0, slices=7,
                           cutout=Cutout(p=0))
    out = augment(x / 10)
    assert torch.allclose(out[:, :, 4, 4] * 10, torch.arange(6.0, -1, -1).expand(64, 7), atol=1e-5)
