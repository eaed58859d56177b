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


def test_only_the_vessels_and_mediastinal_blood_change(study, analysis, ct_slab):
    start, stop = study.volume.metadata["slab"]
    original = ct_slab.array[start:stop]
    changed = study.volume.array != original
    blood = analysis.vessels | analysis.central.arteries | analysis.central.other_blood
    allowed = ndimage.binary_dilation(blood[start:stop], iterations=1)
    assert changed.any() and allowed[changed].all()


def test_central_arteries_are_found_beside_the_carina(analysis, ct_slab):
    central = analysis.central
    assert central.carina_slice is not None and central.arteries.sum() > 5000
    hu = ct_slab.array
    assert not analysis.lungs[central.arteries].any()           # outside the lungs: mediastinum and hila
    assert 0 < np.median(hu[central.arteries]) < 80               # unenhanced blood, not fat or air
    assert not (central.arteries & central.other_blood).any()    # the aorta and SVC are told apart
    rows = np.nonzero(central.arteries)[2]
    midline = 0.5 * (np.flatnonzero(analysis.lungs.any(axis=(0, 1)))[[0, -1]].sum())
    assert (rows < midline).any() and (rows > midline).any()     # right and left pulmonary arteries


def test_every_calibre_class_is_a_filling_defect_in_its_calibre(analysis):
    from IExplainLib.phantoms.real_emboli import CALIBRE_RADIUS_MM, CALIBRES, CLOT_HU
    from IExplainLib.phantoms.realism import embolus_measures

    study = make_real_anatomy_study(analysis, seed=11, calibres=list(CALIBRES), slices=30)
    assert [e["calibre"] for e in study.emboli] == list(CALIBRES)
    measures = {m["label"]: m for m in embolus_measures(study.volume.array.astype(np.float32), study.truth)}
    start, stop = study.volume.metadata["slab"]
    for embolus in study.emboli:
        low, _high = CALIBRE_RADIUS_MM[embolus["calibre"]]
        assert embolus["radius_mm"] >= low and embolus["shape"] in ("occlusive", "partial", "mural")
        assert CLOT_HU[0] <= embolus["hu"] <= CLOT_HU[1]
        assert -150 < measures[embolus["embolus"]]["clot_hu"] < 120
    central = study.emboli[0]
    assert analysis.central.arteries[start:stop][study.truth == central["embolus"]].mean() > 0.5
    assert measures[central["embolus"]]["ring_lumen_share"] >= 0.3 or central["shape"] == "occlusive"


def test_realism_measures_see_a_defect_and_its_absence():
    from IExplainLib.phantoms.realism import embolus_measures

    image = np.full((9, 20, 20), -850.0, np.float32)
    image[:, 5:15, 5:15] = 350.0                   # an opacified vessel running through every slice
    truth = np.zeros(image.shape, np.uint8)
    truth[3:6, 8:12, 8:12] = 1
    image[truth == 1] = 50.0                       # a clot inside it, contrast all around
    truth[3:6, 0:2, 0:2] = 2
    image[truth == 2] = 50.0                       # a "clot" in lung: no contrast around it
    first, second = embolus_measures(image, truth)
    assert first["clot_hu"] == second["clot_hu"] == 50.0
    assert first["ring_lumen_share"] == 1.0 and second["ring_lumen_share"] == 0.0


def test_generated_studies_pass_the_angiogram_check_and_the_raw_ct_does_not(study, ct_slab):
    from IExplainLib.contrast_check import check_contrast

    assert check_contrast(ct_slab).is_angiogram is False
    assert check_contrast(study.volume).is_angiogram is True
    assert 0.0 < study.contrast["vein_share_of_lung_vessels"] < 0.6


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
    assert (negative.volume.array > 180).sum() > 1000   # a PE-negative study is still an angiogram


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
        assert all(e["calibre"] in ("central", "lobar", "segmental", "subsegmental") for e in case.provenance["emboli"])
        assert case.slice_labels.astype(bool).tolist() == [bool(p.any()) for p in label]


def test_realism_script_prints_the_table_of_docs(tmp_path, ct_slab, capsys):
    from IExplainLib.phantoms import realism

    source = tmp_path / "chest.nii.gz"
    write_nifti(ct_slab, ct_slab.array, source)
    preview = tmp_path / "classes.png"
    assert realism.main(["--anatomy", str(source), "--studies", "2", "--seed", "3", "--slices", "24", "--positive",
                         "--phantoms", "1", "--phantom-slices", "16", "--markdown", "--preview", str(preview)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == realism.MARKDOWN_HEADER.splitlines()[0] and len(lines) == 4
    real = lines[3].split(" | ")
    assert real[0].startswith("| synth --anatomy") and int(real[1]) >= 2 and "central" in real[5]
    assert preview.stat().st_size > 10000


def test_quality_sets_hold_negative_real_anatomy_studies():
    from IExplainLib.evaluation.quality_sets import quality_sets

    for quick in (False, True):
        real = {item.name: item for item in quality_sets(quick)}["real-anatomy"]
        assert real.positive_seeds and real.negative_seeds
