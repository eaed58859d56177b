"""Training data: study split by study, balanced sampling, labels from voxel masks, patches around labelled PE."""

import numpy as np
import pytest
import torch

from IExplainLib.classifier import ClassifierSpec, StudySource, split_studies
from IExplainLib.classifier.data import SliceDataset, prepare_all
from IExplainLib.classifier.sampling import BalancedDistributedSampler
from IExplainLib.errors import InputError


def test_split_is_by_study_and_reproducible():
    ids = [f"s{i}" for i in range(10)]
    train, val = split_studies(ids, 0.2, seed=4)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == sorted(ids)
    assert split_studies(ids, 0.2, seed=4) == (train, val)
    assert split_studies(ids, 0.2, seed=5) != (train, val)


def test_balanced_sampler_draws_half_positives_and_shards_disjointly():
    labels = np.r_[np.ones(10), np.zeros(990)]
    ranks = [BalancedDistributedSampler(labels, 2000, rank, 2, seed=1) for rank in (0, 1)]
    shares = [list(sampler) for sampler in ranks]
    assert len(shares[0]) == len(shares[1]) == 1000
    drawn = np.array(shares[0] + shares[1])
    assert 0.45 < (labels[drawn] > 0).mean() < 0.55
    ranks[0].set_epoch(0, skip=100)
    assert list(ranks[0]) == shares[0][100:]  # resuming mid-epoch continues the same order


def _mask_source(tube_study, study_id: str, seed: int):
    volume, labels = tube_study(seed, slices=12, size=48, clot_slices=(5, 7))
    mask = np.zeros(volume.shape, np.uint8)
    mask[5:7, 10:14, 30:34] = 1  # a labelled region away from the image centre
    return StudySource(study_id, load=lambda: volume, load_label=lambda: volume.with_array(mask))


def test_slice_labels_from_voxel_label_and_patches_around_it(tmp_path, make_tube_study):
    spec = ClassifierSpec(input_size=48)
    studies = prepare_all([_mask_source(make_tube_study, "a", 0)], spec, tmp_path)
    assert studies[0].labels.tolist() == [0] * 5 + [1, 1] + [0] * 5
    assert set(studies[0].points[:, 0]) == {5, 6}
    dataset = SliceDataset(studies, spec, crop=16)
    torch.manual_seed(0)
    for _ in range(20):
        patch, label = dataset[5]  # slice 5 of the only study: positive
        assert patch.shape == (7, 16, 16) and label == 1.0
    # the patch holds the labelled region: find it by matching against the whole-slice input
    whole, _ = SliceDataset(studies, spec)[5]
    hits = [(y, x) for y in range(33) for x in range(33) if torch.equal(whole[:, y:y + 16, x:x + 16], patch)]
    assert any(y <= 10 and 14 <= y + 16 and x <= 30 and 34 <= x + 16 for y, x in hits)
    negative, label = dataset[0]
    assert negative.shape == (7, 16, 16) and label == 0.0


def test_study_without_labels_refused(tmp_path, make_tube_study):
    volume, _ = make_tube_study(0)
    with pytest.raises(InputError, match="neither slice labels nor a voxel label"):
        prepare_all([StudySource("x", load=lambda: volume)], ClassifierSpec(input_size=32), tmp_path)


def test_crop_larger_than_input_refused(tmp_path, make_tube_study):
    spec = ClassifierSpec(input_size=32)
    studies = prepare_all([_mask_source(make_tube_study, "b", 1)], ClassifierSpec(input_size=32), tmp_path)
    with pytest.raises(InputError, match="crop"):
        SliceDataset(studies, spec, crop=64)


def test_studies_prepared_in_threads_are_the_same_bytes_as_one_after_another(tmp_path, make_tube_study):
    """Parallel study preparation (issue 25): the cache and the studies read back are identical, progress comes in
    the studies' order, a study listed twice is prepared once, and a failure is raised."""
    from IExplainLib.classifier.data import preparation_workers

    spec = ClassifierSpec(input_size=48)
    sources = [_mask_source(make_tube_study, f"s{seed}", seed) for seed in range(5)]
    sources.append(StudySource("s0", load=sources[0].load, load_label=sources[0].load_label))  # listed twice
    made = {}
    for workers in (1, 3):
        calls = []
        studies = prepare_all(sources, spec, tmp_path / str(workers), workers=workers,
                              report=lambda done, total, name: calls.append((done, total, name)))
        made[workers] = {path.name: path.read_bytes() for path in sorted((tmp_path / str(workers)).iterdir())}
        assert calls == [(index + 1, 6, source.id) for index, source in enumerate(sources)]
        assert [study.id for study in studies] == [source.id for source in sources]
    assert len(made[1]) == 15 and made[3] == made[1]                   # 5 studies x stack, labels, points
    assert preparation_workers(None, 1) == 1 and 1 <= preparation_workers(None, 10) <= 4
    assert preparation_workers(8, 3) == 3
    with pytest.raises(InputError, match="at least one worker"):
        preparation_workers(0, 3)
    volume, _ = make_tube_study(0)
    broken = [*sources[:2], StudySource("x", load=lambda: volume)]
    with pytest.raises(InputError, match="neither slice labels nor a voxel label"):
        prepare_all(broken, spec, tmp_path / "broken", workers=2)
