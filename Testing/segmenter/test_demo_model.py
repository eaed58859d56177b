"""The bundled demo segmenter: a small, honest model file that runs on a phantom it never saw."""

import json
from pathlib import Path

import numpy as np

from IExplainLib.modelfile import load_model_file
from IExplainLib.segmenter.inference import detect_with_segmenter

MODEL = Path(__file__).resolve().parents[2] / "Resources" / "Models" / "demo-segmenter.safetensors"


def test_demo_segmenter_is_small_and_says_what_it_was_trained_on():
    _, card = load_model_file(MODEL, "segmenter")
    assert MODEL.stat().st_size < 5 * 2 ** 20
    assert card["spec"]["hu_center"] == 100 and card["spec"]["hu_width"] == 400
    assert card["spec"]["inplane_spacing_mm"] == 2.0 and card["spec"]["overlap"] == 0.5
    assert "truth" in card["training"]["note"].lower()  # trained on phantom truth, not pseudo-labels: said plainly
    assert "held_out" in card["metrics"]


def test_demo_segmenter_finds_emboli_in_a_held_out_phantom():
    from IExplainLib.phantoms import make_study

    study = make_study(9500, slices=40, size=96, n_emboli=4)
    mask, probability = detect_with_segmenter(study.volume, MODEL, device="cpu", filter=False)
    assert mask.shape == probability.shape == study.volume.shape
    truth = study.truth > 0
    # the probability concentrates on the emboli: far higher there than on the rest of the study
    assert probability[truth].mean() > 5 * probability[~truth].mean()
