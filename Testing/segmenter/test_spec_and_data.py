"""Architecture spec, model-file round trip, balanced sampling and augmentation alignment."""

import numpy as np
import pytest
import torch

from IExplainLib.segmenter.augment import AugmentConfig, augment_batch, spatial_augment
from IExplainLib.segmenter.sampling import BalancedPatchSampler, TrainingArrays
from IExplainLib.segmenter.spec import (SegmenterSpec, build_network, complete_state_dict, nnunet_kernels_strides,
                                        portable_state_dict)


def test_paper_patch_gets_nnunet_strides():
    kernels, strides = nnunet_kernels_strides((64, 128, 128))
    assert strides[0] == (1, 1, 1)
    assert strides[-1] == (1, 2, 2)  # z (64) is exhausted one level before x-y (128)
    assert np.prod([s[0] for s in strides]) == 16 and np.prod([s[1] for s in strides]) == 32
    assert all(k == (3, 3, 3) for k in kernels)
    # an anisotropic grid keeps the coarse axis at kernel 1 and stride 1 until the others catch up
    kernels, strides = nnunet_kernels_strides((16, 64, 64), spacing=(5.0, 1.0, 1.0))
    assert kernels[0] == (1, 3, 3) and strides[1] == (1, 2, 2)


def test_spec_refuses_indivisible_patch():
    with pytest.raises(ValueError, match="divisible"):
        SegmenterSpec(filters=(4, 8), patch_size=(16, 32, 32), kernels=((3, 3, 3), (3, 3, 3)),
                      strides=((1, 1, 1), (3, 2, 2)))


def test_model_file_round_trip_through_safetensors(tmp_path):
    from IExplainLib.modelfile import load_model_file, save_model

    spec = SegmenterSpec(filters=(4, 8, 16), patch_size=(16, 32, 32), inplane_spacing_mm=1.5)
    network = build_network(spec).eval()
    save_model(tmp_path / "m.safetensors", portable_state_dict(network),
               {"kind": "segmenter", "architecture": "monai.DynUNet", "spec": spec.to_card()})
    state, card = load_model_file(tmp_path / "m.safetensors", "segmenter")
    assert len(state) < len(network.state_dict())  # DynUNet's aliased tensors are stored once
    again = SegmenterSpec.from_card(card)
    assert again == spec
    copy = build_network(again)
    copy.load_state_dict(complete_state_dict(copy, state), strict=True)
    x = torch.rand(1, 1, 16, 32, 32)
    with torch.no_grad():
        assert torch.allclose(network(x), copy.eval()(x))


def _case(shape=(20, 40, 40), blob=(10, 20, 30)):
    label = np.zeros(shape, np.float32)
    z, y, x = blob
    label[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2] = 1
    return TrainingArrays.build("c", np.random.default_rng(0).random(shape, dtype=np.float32), label)


def test_balanced_sampler_draws_the_requested_share_of_pe_patches():
    sampler = BalancedPatchSampler([_case()], (8, 16, 16), positive_fraction=0.5, seed=1)
    draws = [sampler.draw() for _ in range(400)]
    positives = [label for _, label, positive in draws if positive]
    assert 0.4 < len(positives) / len(draws) < 0.6
    assert all(label.max() >= 0.5 for label in positives)  # a PE patch always holds PE (random crop around it)
    offsets = {tuple(np.argwhere(label >= 0.5).min(axis=0)) for label in positives}
    assert len(offsets) > 10  # ... but not always in the same place
    negatives = [label for _, label, positive in draws if not positive]
    assert np.mean([label.max() > 0 for label in negatives]) < 0.3


def test_sampler_pads_volumes_smaller_than_the_patch():
    sampler = BalancedPatchSampler([_case((6, 40, 40), (3, 20, 20))], (8, 16, 16), seed=0)
    images, labels = sampler.batch(3)
    assert images.shape == labels.shape == (3, 1, 8, 16, 16)


def test_spatial_augmentation_moves_image_and_label_together():
    generator = torch.Generator().manual_seed(0)
    image = torch.zeros(4, 1, 8, 32, 32)
    image[:, :, 2:6, 5:12, 20:28] = 1.0
    label = torch.cat([1 - image, image], dim=1)
    moved_image, moved_label = spatial_augment(image, label, AugmentConfig(affine_p=1.0), generator)
    assert not torch.allclose(moved_image, image)
    assert torch.allclose(moved_image, moved_label[:, 1:2], atol=1e-5)


def test_mixup_keeps_labels_a_distribution():
    generator = torch.Generator().manual_seed(3)
    image = torch.rand(6, 1, 8, 16, 16)
    pe = (torch.rand(6, 1, 8, 16, 16) > 0.8).float()
    config = AugmentConfig(mixup_p=1.0)
    _, labels = augment_batch(image, torch.cat([1 - pe, pe], dim=1), config, generator)
    assert torch.allclose(labels.sum(dim=1), torch.ones(6, 8, 16, 16), atol=1e-5)
    assert ((labels[:, 1] > 0.01) & (labels[:, 1] < 0.99)).any()  # blended labels are soft


@pytest.mark.parametrize("bad, message", [
    ({"iterations": 0}, "iterations and batch size"), ({"batch_size": 0}, "iterations and batch size"),
    ({"lr": 0.0}, "lr > 0"), ({"warmup": -1}, "warmup"), ({"positive_fraction": 1.5}, "positive-fraction"),
    ({"checkpoint_every": 0}, "checkpoint interval"),
])
def test_training_config_refuses_bad_settings_when_made(bad, message):
    from IExplainLib.errors import InputError
    from IExplainLib.segmenter.train import TrainConfig

    with pytest.raises(InputError, match=message):
        TrainConfig(**bad)


def test_sizes_become_integer_triples_and_a_kernel_without_three_sizes_is_refused():
    spec = SegmenterSpec(patch_size=[16.0, 32, 32], filters=(4, 8), kernels=[[3, 3, 3], [3.0, 3, 3]],
                         strides=[[1, 1, 1], [2, 2, 2]])
    assert spec.patch_size == (16, 32, 32) and spec.kernels == ((3, 3, 3), (3, 3, 3))
    assert all(type(size) is int for size in spec.patch_size + spec.strides[1])
    with pytest.raises(ValueError, match="kernel needs three sizes"):
        SegmenterSpec(filters=(4, 8), kernels=((3, 3), (3, 3, 3)), strides=((1, 1, 1), (2, 2, 2)))
