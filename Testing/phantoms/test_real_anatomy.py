"""Real-anatomy phantoms: contrast and clots inserted into the real POPI chest CT (skips where the data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from IExplainLib import InputError
from IExplainLib.cli.main import main
from IExplainLib.datasets import open_dataset
from IExplainLib.phantoms import make_real_anatomy_study
from IExplainLib.phantoms.dataset_writer import write_nifti
from IExplainLib.phantoms.real_anatomy import analyse_anatomy, crop_slices, load_anatomy
from IExplainLib.volume import Volume


@pytest.fixture(scope="module")
def ct_slab(popi_folder):
    # Slices 60-99 hold the hila and lower lobes: enough lung vessels, and quick to analyse.
    return crop_slices(load_anatomy(popi_folder), 60, 100)


@pytest.fixture(scope="module")
def analysis(ct_slab):
    return analyse_anatomy(ct_slab)


@pytest.fixture(scope="module")
def study(analysis):
    return make_real_anatomy_study(analysis, seed=4, n_emboli=3, slices=24)


def test_lungs_and_vessels_are_found(analysis, ct_slab):
    assert analysis.lungs.sum() > 0.1 * analysis.lungs.size
    assert analysis.vessels.sum() > 10000
    assert analysis.lungs[analysis.vessels].all()
    assert np.median(ct_slab.array[analysis.vessels & (analysis.radius_mm > 2)]) > -200  # soft tissue, not air


def test_geometry_is_the_real_ct_slab(study, ct_slab):
    start, stop = study.volume.metadata["slab"]
    assert stop - start == 24 == study.volume.shape[0]
    assert study.volume.same_grid(crop_slices(ct_slab, start, stop))
    assert study.kind == "real-anatomy"


def test_truth_is_inside_the_arteries_and_labels_follow(study):
    assert len(study.emboli) == 3
    assert study.vessels[study.truth > 0].all()
    assert study.slice_labels.tolist() == [bool(p.any()) for p in study.truth]
    for box in study.boxes:
        rows, cols = np.nonzero(study.truth[box["slice_index"]] == box["embolus"])
        assert (box["x"], box["y"]) == (cols.min(), rows.min())
        assert (box["width"], box["height"]) == (cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)


def test_only_the_lung_vessels_change(study, analysis, ct_slab):
    start, stop = study.volume.metadata["slab"]
    original = ct_slab.array[start:stop]
    changed = study.volume.array != original
    allowed = ndimage.binary_dilation(analysis.vessels[start:stop], iterations=1)
    assert changed.any() and allowed[changed].all()


def test_clots_are_filling_defects_in_enhanced_arteries(study, analysis):
    start, stop = study.volume.metadata["slab"]
    image = study.volume.array.astype(float)
    core = study.vessels & (analysis.radius_mm[start:stop] >= 2.0)
    lumen = np.median(image[core & (study.truth == 0)])
    assert 200 <= lumen <= 460
    for embolus in study.emboli:
        clot = image[(study.truth == embolus["embolus"]) & core]
        if clot.size:
            assert np.median(clot) < lumen - 150


def test_seeds_change_the_clots_and_repeat_exactly(analysis, study):
    again = make_real_anatomy_study(analysis, seed=4, n_emboli=3, slices=24)
    assert np.array_equal(again.volume.array, study.volume.array) and np.array_equal(again.truth, study.truth)
    other = make_real_anatomy_study(analysis, seed=5, n_emboli=3, slices=24)
    assert not np.array_equal(other.truth, study.truth) and other.study_uid != study.study_uid
    negative = make_real_anatomy_study(analysis, seed=6, negative=True, slices=24)
    assert not negative.truth.any() and negative.emboli == []


def test_a_volume_without_lungs_is_refused():
    with pytest.raises(InputError):
        analyse_anatomy(Volume(np.full((10, 64, 64), 40, np.int16)))


def test_cli_real_anatomy_mode(tmp_path, ct_slab):
    source = tmp_path / "chest.nii.gz"
    write_nifti(ct_slab, ct_slab.array, source)
    out = tmp_path / "real"
    code = main(["synth", str(out), "--anatomy", str(source), "--studies", "2", "--seed", "1", "--emboli", "2",
                 "--slices", "16", "--progress", "quiet"])
    assert code == 0
    cases = open_dataset(out)
    assert len(cases) == 2
    for case in cases:
        label = case.load_label().array
        assert case.load_image().shape == label.shape == (16, 512, 512)
        assert case.provenance["kind"] == "real-anatomy" and len(case.provenance["emboli"]) == 2
        assert case.slice_labels.astype(bool).tolist() == [bool(p.any()) for p in label]
