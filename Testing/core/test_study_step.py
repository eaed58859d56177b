"""The study step: one CT read, checked, contrast-checked, detected by any method's detector and written with the
same findings document, whoever calls it (``detect``, ``pseudo-label``, the demo). Real bundled models, real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicerio

from IExplainLib.candidates.detector import CandidateDetector
from IExplainLib.detection import findings_document
from IExplainLib.errors import InputError, OutputExistsError, UnsupportedInputError
from IExplainLib.io import read_volume, write_volume
from IExplainLib.modelfile import bundled_model
from IExplainLib.phantoms import make_study
from IExplainLib.progress import Progress
from IExplainLib.study_step import StudyFiles, StudyStep, make_detector
from IExplainLib.volume import Volume

REDUCER = bundled_model("demo-reducer")


@pytest.fixture(scope="module")
def phantom_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ct") / "phantom.nrrd"
    write_volume(path, make_study(9001, slices=24, size=128).volume)
    return path


def files_in(folder, dicom_seg=None) -> StudyFiles:
    return StudyFiles(folder / "out.findings.json", folder / "out.seg.nrrd", folder / "scores.nrrd",
                      folder / "label.nii.gz", dicom_seg)


def test_the_step_writes_what_its_detector_finds_and_one_document_for_every_caller(phantom_file, tmp_path):
    events = []
    step = StudyStep.for_method("candidates", REDUCER, progress=lambda stage, *a, **k: events.append(stage))
    result = step(phantom_file, files_in(tmp_path), case="case-7")

    direct = CandidateDetector(REDUCER).explain(read_volume(phantom_file))
    assert np.array_equal(result.detection.labelmap.array, direct.labelmap.array)
    assert result.detection.findings == direct.findings and direct.findings  # the phantom has candidates kept
    assert events[0] == "read" and events[-1] == "write"

    written = json.loads((tmp_path / "out.findings.json").read_text())
    assert written == result.document
    expected = findings_document(result.detection, phantom_file.resolve(), REDUCER)
    assert {k: written[k] for k in expected} == json.loads(json.dumps(expected))
    assert written["case"] == "case-7" and written["params"] is None and "preset" not in written
    assert written["contrast"]["is_angiogram"] is True and written["warnings"] == []
    segments = slicerio.read_segmentation(str(tmp_path / "out.seg.nrrd"))["segments"]
    assert [s["labelValue"] for s in segments] == [row["finding"] for row in direct.findings]
    label = read_volume(tmp_path / "label.nii.gz")
    assert label.same_grid(result.volume) and int(label.array.sum()) == sum(r["voxels"] for r in direct.findings)
    assert read_volume(tmp_path / "scores.nrrd").array.max() == pytest.approx(max(r["score"] for r in direct.findings),
                                                                             abs=1e-4)


def test_a_ct_without_contrast_is_detected_with_its_warning_recorded_and_announced(popi_folder, tmp_path):
    from IExplainLib.phantoms.real_anatomy import crop_slices

    popi = crop_slices(read_volume(popi_folder), 60, 84)  # enough lung for the check to tell
    events = []
    step = StudyStep.for_method("candidates", REDUCER,
                                progress=lambda stage, fraction, message="", **k: events.append((stage, message)))
    result = step(popi_folder, files_in(tmp_path), volume=popi)
    assert result.document["contrast"]["is_angiogram"] is False
    assert len(result.document["warnings"]) == 1 and "does not look like a CT angiogram" in result.document["warnings"][0]
    assert ("warning", result.document["warnings"][0]) in events
    assert result.detection.findings == []  # the candidate detector finds nothing in a CT it cannot read


def test_what_is_not_a_ct_is_refused_before_detection_and_nothing_is_written(tmp_path):
    mask = Volume(np.zeros((8, 32, 32), np.uint8), (1.0, 1.0, 2.0))
    path = tmp_path / "mask.nrrd"
    write_volume(path, mask)
    step = StudyStep(CandidateDetector(REDUCER), REDUCER)
    with pytest.raises(UnsupportedInputError, match="case case-1 does not look like a CT"):
        step(path, files_in(tmp_path), case="case-1")
    with pytest.raises(UnsupportedInputError, match="mask.nrrd does not look like a CT"):
        step(path, files_in(tmp_path))
    assert not (tmp_path / "out.findings.json").exists() and not (tmp_path / "out.seg.nrrd").exists()


def test_a_dicom_seg_is_refused_for_a_ct_that_is_no_dicom_series(phantom_file, tmp_path):
    step = StudyStep(CandidateDetector(REDUCER), REDUCER)
    with pytest.raises(InputError, match="DICOM"):
        step(phantom_file, files_in(tmp_path, dicom_seg=tmp_path / "out.dcm"))
    assert not (tmp_path / "out.findings.json").exists()


def test_outputs_are_checked_before_any_work(tmp_path):
    files = files_in(tmp_path)
    files.check_can_write(overwrite=False)
    (tmp_path / "scores.nrrd").write_text("kept")
    with pytest.raises(OutputExistsError):
        files.check_can_write(overwrite=False)
    files.check_can_write(overwrite=True)
    assert (tmp_path / "scores.nrrd").read_text() == "kept"


def test_every_method_has_a_detector_and_bad_choices_are_refused_in_one_line():
    from IExplainLib.explain.explainer import IExplainer
    from IExplainLib.segmenter.inference import Segmenter

    assert isinstance(make_detector("iexplain", bundled_model("demo-classifier"), device="cpu"), IExplainer)
    segmenter = make_detector("segmenter", bundled_model("demo-segmenter"), device="cpu")
    assert isinstance(segmenter, Segmenter) and segmenter.params.location_filter == "chest"  # the card's filters
    assert make_detector("candidates", REDUCER, score_threshold=0.25).threshold == 0.25
    with pytest.raises(InputError, match="--score-threshold"):
        make_detector("candidates", REDUCER, score_threshold=1.5)
    with pytest.raises(InputError, match="unknown detection method"):
        make_detector("voting", REDUCER)


def test_only_iexplain_records_its_parameters_and_the_preset_is_announced_once(capsys):
    from IExplainLib.explain.params import ExplainParams
    from IExplainLib.explain.presets import choose_preset

    classifier = bundled_model("demo-classifier")
    preset = choose_preset("fast", "cpu")
    step = StudyStep.for_method("iexplain", classifier, ExplainParams(n_steps=3), preset, "cpu",
                                progress=Progress("text"))
    assert step.params is not None and step.params.n_steps == 3
    assert capsys.readouterr().err.count("attribution preset fast") == 1
    segmenter = StudyStep.for_method("segmenter", bundled_model("demo-segmenter"), ExplainParams(), device="cpu")
    assert segmenter.params is None


def test_given_no_files_the_step_writes_nothing_and_returns_the_document_it_would_write(phantom_file, tmp_path,
                                                                                        monkeypatch):
    """What ``quality`` runs: the same step on a CT in memory, scored without a file."""
    monkeypatch.chdir(tmp_path)
    step = StudyStep.for_method("candidates", REDUCER)
    in_memory = step(None, case="case-7", volume=read_volume(phantom_file))
    assert list(tmp_path.iterdir()) == []
    written = step(phantom_file, files_in(tmp_path / "out"), case="case-7")
    assert np.array_equal(in_memory.detection.labelmap.array, written.detection.labelmap.array)
    assert in_memory.document["image"] is None and written.document["image"] == str(phantom_file.resolve())

    def timeless(document):
        return {**document, "image": None, "summary": {k: v for k, v in document["summary"].items() if k != "seconds"}}

    assert timeless(in_memory.document) == timeless(written.document) and in_memory.detection.findings
    with pytest.raises(ValueError, match="needs the CT"):
        step(None)
