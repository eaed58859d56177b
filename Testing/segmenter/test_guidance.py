"""The artery-aware second channel (``--guidance candidates``): the candidate detector's map beside the CT, through
the spec, the card, the data, the augmentation, training and inference; a CT-only segmenter is unchanged."""

import numpy as np
import pytest

from IExplainLib.candidates.proposals import find_candidates
from IExplainLib.cli.main import main
from IExplainLib.modelfile import load_model_file
from IExplainLib.segmenter.augment import AugmentConfig, intensity_augment
from IExplainLib.segmenter.data import training_arrays
from IExplainLib.segmenter.inference import load_segmenter, segment_probability
from IExplainLib.segmenter.preprocess import guidance_map, to_network_image, to_network_input
from IExplainLib.segmenter.spec import SegmenterSpec, build_network
from IExplainLib.transforms import resize_in_plane

from .conftest import TINY_ARCH, tiny_study

TINY = dict(filters=(4, 8, 16), patch_size=(16, 32, 32), inplane_spacing_mm=4.0)


def test_a_guided_spec_reads_two_channels_and_a_ct_only_card_stays_as_written():
    guided = SegmenterSpec(**TINY, guidance="candidates")
    assert guided.in_channels == 2
    first_conv = next(p for p in build_network(guided).parameters() if p.ndim == 5)
    assert first_conv.shape[1] == 2
    assert SegmenterSpec.from_card({"spec": guided.to_card()}) == guided
    ct_only = SegmenterSpec(**TINY)
    assert ct_only.in_channels == 1 and "guidance" not in ct_only.to_card()
    assert SegmenterSpec.from_card({"spec": ct_only.to_card()}).guidance is None  # cards written before it
    with pytest.raises(ValueError, match="guidance"):
        SegmenterSpec(**TINY, guidance="lumen")


def test_the_guidance_channel_is_the_candidates_map_on_the_network_grid():
    study = tiny_study(0)
    spec = SegmenterSpec(**TINY, guidance="candidates")
    found = guidance_map(study.volume, spec)
    assert found is not None and found.any()
    assert (found == (find_candidates(study.volume).labels > 0)).all()
    stacked = to_network_input(study.volume.array, study.volume.spacing[:2], spec, found)
    image = to_network_image(study.volume.array, study.volume.spacing[:2], spec)
    assert stacked.shape == (2, *image.shape)
    assert np.array_equal(stacked[0], image)
    assert np.allclose(stacked[1], resize_in_plane(found.astype(np.float32), image.shape[1:], "auto"))
    assert stacked[1].max() > 0
    with pytest.raises(ValueError, match="candidates channel"):
        to_network_input(study.volume.array, study.volume.spacing[:2], spec, None)
    # a CT-only segmenter: no map made, one channel
    assert guidance_map(study.volume, SegmenterSpec(**TINY)) is None
    arrays = training_arrays("c", study.volume, study.truth, spec)
    assert arrays.image.shape == (2, *image.shape) and arrays.label.shape == image.shape


def test_intensity_augmentation_leaves_the_guidance_channel_alone():
    import torch

    images = torch.rand(3, 2, 4, 8, 8)
    generator = torch.Generator().manual_seed(0)
    out = intensity_augment(images, AugmentConfig(contrast=(1.5, 1.5), brightness=0.2), generator)
    assert torch.equal(out[:, 1], images[:, 1])
    assert not torch.allclose(out[:, 0], images[:, 0])


def test_a_guided_segmenter_trains_and_segments_a_study(tiny_phantoms, tmp_path):
    out = tmp_path / "guided.safetensors"
    assert main(["train-segmenter", "--images", str(tiny_phantoms), "--out", str(out), *TINY_ARCH,
                 "--guidance", "candidates", "--iterations", "4", "--batch-size", "2", "--warmup", "1",
                 "--progress", "quiet"]) == 0
    state, card = load_model_file(out, "segmenter")
    assert card["spec"]["guidance"] == "candidates"
    assert any(tensor.ndim == 5 and tensor.shape[1] == 2 for tensor in state.values())
    study = tiny_study(7)
    probability = segment_probability(study.volume, load_segmenter(out, "cpu"))
    assert probability.shape == study.volume.shape and 0 <= probability.min() <= probability.max() <= 1
    with pytest.raises(SystemExit):
        main(["train-segmenter", "--images", str(tiny_phantoms), "--out", str(tmp_path / "x.safetensors"),
              "--guidance", "lumen"])
