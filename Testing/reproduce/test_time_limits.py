"""Training loops given a deadline stop on time with a written model whose card says so (real torch, real data)."""

import time

import numpy as np
import pytest

from IExplainLib.classifier import ClassifierSpec, StudySource, train_classifier
from IExplainLib.modelfile import load_model_file, read_card
from IExplainLib.phantoms import make_study
from IExplainLib.segmenter.data import training_arrays
from IExplainLib.segmenter.spec import SegmenterSpec
from IExplainLib.segmenter.train import TrainConfig, train_segmenter


@pytest.fixture(scope="module")
def phantoms():
    return [make_study(seed, slices=16, size=64, negative=False if seed == 0 else None) for seed in range(3)]


def test_segmenter_training_ends_at_its_deadline_with_a_model(phantoms, tmp_path):
    spec = SegmenterSpec(filters=(4, 8, 16), patch_size=(8, 32, 32))
    arrays = [training_arrays(f"p{i}", s.volume, (s.truth > 0).astype(np.uint8), spec, seed=i)
              for i, s in enumerate(phantoms)]
    config = TrainConfig(iterations=10 ** 6, batch_size=2, lr=1e-3, warmup=1, checkpoint_every=10 ** 9)
    started = time.monotonic()
    path = train_segmenter(arrays, spec, config, tmp_path / "seg.safetensors", device="cpu",
                           deadline=started + 3.0)
    assert time.monotonic() - started < 3.0 + 5.0  # the loop stops at 3 s; writing the model takes the rest
    state, card = load_model_file(path, expected_kind="segmenter")
    limit = card["training"]["time_limit"]
    assert limit["stopped_by_deadline"] and 1 <= limit["steps"] < 10 ** 6 and limit["planned_steps"] == 10 ** 6
    assert state


def test_classifier_training_ends_at_its_deadline_validates_and_writes(phantoms, tmp_path):
    sources = [StudySource(f"p{i}", (lambda s=s: s.volume), s.slice_labels.astype(np.float32))
               for i, s in enumerate(phantoms)]
    started = time.monotonic()
    result = train_classifier(sources, tmp_path / "cls.safetensors", ClassifierSpec(input_size=32), epochs=10 ** 4,
                              batch_size=4, warmup=1, device="cpu", deadline=started + 3.0, val_fraction=0.34)
    assert time.monotonic() - started < 3.0 + 10.0  # preparing, validating and writing come on top of the loop
    card = read_card(result["model"])
    assert card["training"]["time_limit"]["stopped_by_deadline"]
    assert result["step"] < 10 ** 4 * 8 and "auroc" in card["metrics"]["validation"]

