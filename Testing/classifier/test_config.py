"""``ClassifierTrainConfig``: every bad setting refused in one line when the object is made, before any study is
read; the trainer takes it whole or as keywords, not both."""

from __future__ import annotations

import pytest

from IExplainLib.classifier import ClassifierTrainConfig, train_classifier
from IExplainLib.errors import InputError


@pytest.mark.parametrize("bad, message", [
    ({"epochs": 0}, "epochs and batch size"),
    ({"batch_size": 0}, "epochs and batch size"),
    ({"lr": 0.0}, "learning rate"),
    ({"warmup": -1}, "warmup"),
    ({"val_fraction": 1.0}, "validation fraction"),
    ({"samples_per_epoch": 0}, "samples per epoch"),
    ({"checkpoint_every": 0}, "checkpoint interval"),
    ({"crop": -8}, "--crop"),
    ({"hard_negatives": True}, "hard-negative mining needs patch training"),
    ({"positive_centres": "guess", "crop": 16}, "positive centres are"),
    ({"positive_centres": "image"}, "image-centred positives need patch training"),
])
def test_bad_settings_refused_when_made(bad, message):
    with pytest.raises(InputError, match=message):
        ClassifierTrainConfig(**bad)


def test_defaults_are_the_documented_ones_and_patch_settings_combine():
    config = ClassifierTrainConfig(crop=64, hard_negatives=True, positive_centres="evidence")
    assert (config.epochs, config.batch_size, config.lr, config.val_fraction) == (10, 32, 1e-3, 0.2)
    assert config.as_dict()["positive_centres"] == "evidence"


def test_trainer_takes_the_config_whole_or_as_keywords_not_both(tmp_path):
    with pytest.raises(InputError, match="not both"):
        train_classifier([], tmp_path / "m.safetensors", None, ClassifierTrainConfig(), epochs=2)
    with pytest.raises(TypeError, match="no_such_setting"):
        train_classifier([], tmp_path / "m.safetensors", no_such_setting=1)
    with pytest.raises(InputError, match="epochs and batch size"):  # before any output or study is touched
        train_classifier([], tmp_path / "m.safetensors", epochs=0)
    assert not any(tmp_path.iterdir())
