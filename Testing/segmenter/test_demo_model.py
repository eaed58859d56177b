"""The bundled demo segmenter: a small, honest model file that runs on a phantom it never saw."""

from pathlib import Path

from IExplainLib.explain.params import ExplainParams
from IExplainLib.modelfile import load_model_file
from IExplainLib.segmenter.inference import Segmenter

MODEL = Path(__file__).resolve().parents[2] / "Resources" / "Models" / "demo-segmenter.safetensors"


def test_demo_segmenter_is_small_and_says_what_it_was_trained_on():
    _, card = load_model_file(MODEL, "segmenter")
    assert MODEL.stat().st_size < 5 * 2 ** 20
    assert card["spec"]["hu_center"] == 100 and card["spec"]["hu_width"] == 400
    assert card["spec"]["inplane_spacing_mm"] == 2.0 and card["spec"]["overlap"] == 0.5
    # weakly supervised, as the paper's pipeline: trained on iExplain pseudo-labels only, and the card says so
    assert card["training"]["data"]["label_sources"] == ["pseudo-label"]
    assert "pseudo-labels" in card["training"]["note"].lower()
    assert "held_out" in card["metrics"]


def test_demo_segmenter_finds_emboli_in_held_out_phantoms():
    from IExplainLib.phantoms import make_study

    segmenter = Segmenter(MODEL, ExplainParams(filter=False), "cpu")
    for seed in (9500, 9501):  # never trained on; the size it was trained at
        study = make_study(seed, slices=40, size=256, n_emboli=4)
        mask, probability = segmenter.segment(study.volume)
        assert mask.shape == probability.shape == study.volume.shape
        truth = study.truth > 0
        # learnt from noisy pseudo-labels only: the probability is still over twice as high on the emboli as elsewhere
        assert probability[truth].mean() > 2 * probability[~truth].mean()
