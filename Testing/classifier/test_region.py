"""``spec.region = "chest"``: what lies outside the lungs and mediastinum never reaches the classifier; a warm start
may change the region, input size and field of view (weights do not depend on them) but not the windows."""

import numpy as np
import pytest

from IExplainLib.classifier import ClassifierSpec, prepare_study, train_classifier
from IExplainLib.classifier.data import _cache_name
from IExplainLib.errors import InputError
from IExplainLib.modelfile import read_card
from IExplainLib.phantoms import make_study


def test_outside_the_chest_region_the_input_is_zero_inside_it_is_unchanged():
    study = make_study(8125, slices=16, size=96, n_emboli=2)
    whole = prepare_study(study.volume, ClassifierSpec(input_size=96)).numpy()
    masked = prepare_study(study.volume, ClassifierSpec(input_size=96, region="chest")).numpy()
    from IExplainLib.chest_region import chest_region
    region = chest_region(study.volume.array, study.volume.spacing)
    assert np.all(masked[:, 0][~region] == 0)
    assert np.allclose(masked[:, 0][region], whole[:, 0][region])
    spine = study.volume.array > 600
    assert whole[:, 0][spine].mean() > 0.9 and masked[:, 0][spine].max() == 0


def test_region_is_part_of_the_spec_and_of_the_cache_key():
    with pytest.raises(InputError, match="region"):
        ClassifierSpec(region="abdomen")
    plain, chest = ClassifierSpec(), ClassifierSpec(region="chest")
    assert _cache_name("a", plain) != _cache_name("a", chest)
    assert ClassifierSpec.from_dict(chest.to_dict()).region == "chest"
    assert ClassifierSpec.from_dict({k: v for k, v in plain.to_dict().items() if k != "region"}).region is None


def test_array_input_without_pixel_size_is_refused_for_a_region():
    with pytest.raises(InputError, match="pixel size"):
        prepare_study(np.zeros((4, 32, 32)), ClassifierSpec(input_size=32, region="chest"))


def test_warm_start_changes_region_and_size_but_refuses_other_windows(tube_dataset, tmp_path, tiny_spec):
    fast = dict(epochs=1, batch_size=8, lr=1e-3, warmup=1, device="cpu", samples_per_epoch=16)
    first = tmp_path / "first.safetensors"
    train_classifier(tube_dataset, first, tiny_spec, **fast)
    moved = ClassifierSpec(input_size=48, hu_windows=tiny_spec.hu_windows, field_of_view_mm=20.0)
    second = tmp_path / "second.safetensors"
    train_classifier(tube_dataset, second, moved, init=first, **fast)
    card = read_card(second)
    assert card["spec"]["input_size"] == 48 and card["spec"]["field_of_view_mm"] == 20.0
    assert card["training"]["initial_weights"] == str(first)
    # a window in place of the model's own is refused (adding one after it is allowed: test_training.py)
    for windows in ([(500, 1000)], [(500, 1000), (100, 700)]):
        with pytest.raises(InputError, match="windows may only be added after its own"):
            train_classifier(tube_dataset, tmp_path / "third.safetensors",
                             ClassifierSpec(input_size=32, hu_windows=windows), init=first, **fast)
