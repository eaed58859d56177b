"""Sliding-window inference: streamed slabs agree with the whole-volume run, outputs sit on the CT grid, filters."""

import numpy as np
import pytest

from IExplainLib.errors import InputError, ModelFileError
from IExplainLib.explain.params import ExplainParams, params_for_model
from IExplainLib.modelfile import read_card
from IExplainLib.segmenter.inference import Segmenter, load_segmenter, segment_probability
from IExplainLib.volume import Volume

from .conftest import tiny_study


@pytest.fixture(scope="module")
def long_study():
    from IExplainLib.phantoms import make_study

    return make_study(9001, slices=56, size=64, n_emboli=3)


def test_streamed_slabs_match_the_whole_volume_run(tiny_model, long_study):
    loaded = load_segmenter(tiny_model, "cpu")
    whole = segment_probability(long_study.volume, loaded, slab_windows=None)
    streamed = segment_probability(long_study.volume, loaded, slab_windows=1)  # 4 slabs of 16 slices
    assert whole.shape == streamed.shape == long_study.volume.shape
    assert whole.dtype == np.float32
    # slab seams only change which windows blend at a voxel; each keeps half a window of context
    assert np.abs(whole - streamed).mean() < 0.01
    assert np.abs(whole - streamed).max() < 0.25


def test_detect_returns_mask_and_probability_on_the_ct_grid(tiny_model):
    study = tiny_study(9002)
    # an anisotropic grid with an odd matrix: the network grid differs, the outputs must not
    volume = Volume(study.volume.array[:, :, :61], (study.volume.spacing[0] * 1.3, study.volume.spacing[1], 2.0),
                    study.volume.origin)
    mask, probability = Segmenter(tiny_model, ExplainParams(filter=False), "cpu", threshold=0.3).segment(volume)
    assert mask.shape == probability.shape == volume.shape
    assert mask.dtype == np.uint8 and probability.dtype == np.float32
    assert 0.0 <= probability.min() and probability.max() <= 1.0
    assert np.array_equal(mask, (probability >= 0.3).astype(np.uint8))


def test_cluster_filters_only_remove_findings(tiny_model):
    study = tiny_study(9003)
    loaded = load_segmenter(tiny_model, "cpu")
    cut = float(np.quantile(segment_probability(study.volume, loaded), 0.99))  # the untrained net: some voxels pass
    filters = ExplainParams(min_cluster_voxels=100, max_center_distance_px=160)
    raw, probability = Segmenter(loaded, filters.replace(filter=False), threshold=cut).segment(study.volume)
    assert np.array_equal(raw, (probability >= cut).astype(np.uint8))
    kept, _ = Segmenter(loaded, filters, threshold=cut).segment(study.volume)
    assert np.all(kept <= raw)
    strict, _ = Segmenter(loaded, filters.replace(min_cluster_voxels=10 ** 9), threshold=cut).segment(study.volume)
    assert raw.sum() > 0 and strict.sum() == 0


def test_the_segmenter_is_a_detector_with_the_card_filters_by_default(tiny_model):
    study = tiny_study(9005)
    segmenter = Segmenter(tiny_model, device="cpu")
    detection = segmenter.explain(study.volume)
    card_filters = params_for_model(read_card(tiny_model))
    assert segmenter.params == card_filters
    mask, probability = Segmenter(load_segmenter(tiny_model, "cpu"), card_filters).segment(study.volume)
    assert detection.method == "segmenter" and np.array_equal(detection.labelmap.array, mask)
    assert detection.heat is not None and np.array_equal(detection.heat.array, probability)
    assert detection.labelmap.same_grid(study.volume)
    assert sum(row["voxels"] for row in detection.findings) == int(mask.sum()) == detection.summary["voxels"]
    assert all(row["peak_probability"] >= segmenter.threshold for row in detection.findings)


def test_bad_inputs_are_refused_in_one_line(tiny_model, tmp_path):
    with pytest.raises(InputError, match="threshold"):
        Segmenter(tiny_model, device="cpu", threshold=1.5)
    with pytest.raises(ModelFileError, match="not found"):
        load_segmenter(tmp_path / "missing.safetensors", "cpu")
    card = tiny_model.with_suffix(".json").read_text().replace('"kind": "segmenter"', '"kind": "classifier"')
    (tmp_path / "clf.json").write_text(card)
    (tmp_path / "clf.safetensors").write_bytes(tiny_model.read_bytes())
    with pytest.raises(ModelFileError, match="classifier model"):
        load_segmenter(tmp_path / "clf.safetensors", "cpu")
