"""The network: shape, max pooling, backbones by name, and the spec that travels in the model card."""

import pytest
import torch

from IExplainLib.classifier import ClassifierSpec, available_backbones, build_classifier
from IExplainLib.errors import InputError, ModelFileError


def test_logits_shape_for_window_major_channels():
    spec = ClassifierSpec(input_size=48, hu_windows=[(100, 700), (40, 400)])
    model = build_classifier(spec).eval()
    assert spec.channels == 14
    with torch.no_grad():
        assert model(torch.rand(3, 14, 48, 48)).shape == (3, 1)


def test_global_pool_is_max_and_output_depends_on_the_strongest_location():
    model = build_classifier(ClassifierSpec(input_size=32, drop_rate=0.0)).eval()
    assert isinstance(model.global_pool.pool, torch.nn.AdaptiveMaxPool2d)
    features = torch.randn(2, model.num_features, 4, 4)
    pooled = model.global_pool(features)
    assert torch.equal(pooled, features.amax(dim=(2, 3)))


def test_paper_backbone_selectable_by_name_without_download():
    assert "tf_efficientnetv2_l" in available_backbones()
    model = build_classifier(ClassifierSpec(backbone="tf_efficientnetv2_b0", input_size=32)).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 7, 32, 32)).shape == (1, 1)
    with pytest.raises(ModelFileError, match="unknown classifier backbone"):
        build_classifier(ClassifierSpec(backbone="no_such_network"))


def test_another_timm_cnn_is_max_pooled_and_a_transformer_is_refused():
    model = build_classifier(ClassifierSpec(backbone="mobilenetv3_small_050", input_size=32, drop_rate=0.0)).eval()
    assert isinstance(model.global_pool.pool, torch.nn.AdaptiveMaxPool2d)
    with torch.no_grad():
        assert model(torch.rand(2, 7, 32, 32)).shape == (2, 1)
    with pytest.raises(ModelFileError, match="not a convolutional network"):
        build_classifier(ClassifierSpec(backbone="vit_tiny_patch16_224", input_size=32))


def test_default_backbone_is_small():
    model = build_classifier(ClassifierSpec())
    assert sum(p.numel() for p in model.parameters()) < 1_500_000  # a few MB as float32


def test_wide_variant_is_the_tiny_one_with_wider_stages():
    def stage_widths(name):
        model = build_classifier(ClassifierSpec(backbone=name, input_size=32))
        last_convs = [[m for m in stage.modules() if isinstance(m, torch.nn.Conv2d)][-1] for stage in model.blocks]
        return [conv.out_channels for conv in last_convs], model.num_features

    assert {"iexplain_efficientnetv2_tiny", "iexplain_efficientnetv2_wide"} <= set(available_backbones())
    tiny_widths, tiny_features = stage_widths("iexplain_efficientnetv2_tiny")
    wide_widths, wide_features = stage_widths("iexplain_efficientnetv2_wide")
    assert tiny_widths == [16, 24, 32, 64, 80, 112] and tiny_features == 384  # the shipped weights' shapes
    assert all(wide >= 1.4 * tiny for wide, tiny in zip(wide_widths, tiny_widths)) and wide_features == 576


def test_spec_round_trip_and_channel_layout():
    spec = ClassifierSpec(slices=5, hu_windows=[(100, 700), (-600, 1500)], threshold=0.3)
    assert ClassifierSpec.from_dict(spec.to_dict()) == spec
    layout = spec.channel_layout()
    assert layout[:5] == [(-2, 0), (-1, 0), (0, 0), (1, 0), (2, 0)]
    assert layout[5] == (-2, 1)
    assert all(spec.channel_of(offset, window) == c for c, (offset, window) in enumerate(layout))


@pytest.mark.parametrize("bad", [{"slices": 6}, {"hu_windows": [(100, 0)]}, {"edge": "zero"},
                                 {"global_pool": "median"}, {"threshold": 1.5}])
def test_bad_spec_refused(bad):
    with pytest.raises(InputError):
        ClassifierSpec(**bad)
