"""Phantoms written in the RSPECT and dataset.json layouts are read back unchanged by the project's readers."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from IExplainLib import InputError, OutputExistsError
from IExplainLib.datasets import open_dataset
from IExplainLib.io import read_boxes_csv, read_dicom_series, read_rspect_labels, read_volume
from IExplainLib.io.boxes import boxes_to_mask
from IExplainLib.phantoms import make_study, write_dataset
from IExplainLib.phantoms.labels import RSPECT_COLUMNS


@pytest.fixture(scope="module")
def studies():
    return [make_study(31, slices=16, size=64, n_emboli=2, negative=False),
            make_study(32, slices=16, size=64, negative=True)]


@pytest.fixture(scope="module")
def rspect(tmp_path_factory, studies):
    out = tmp_path_factory.mktemp("rspect") / "dataset"
    write_dataset(out, studies, layout="rspect")
    return out


def _series_folder(root, study):
    folder = root / study.study_uid
    (series,) = list(folder.iterdir())
    return series


def test_rspect_layout_files(rspect, studies):
    for study in studies:
        series = _series_folder(rspect, study)
        assert len(list(series.glob("*.dcm"))) == 16
        assert (rspect / "truth" / f"{study.study_uid}.nii.gz").is_file()
    with open(rspect / "train.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == RSPECT_COLUMNS and len(rows[0]) == 17
    assert len(rows) == 1 + 32
    assert not list(rspect.parent.glob(".partial-*"))  # nothing left of the staging folder


def test_dicom_headers_are_a_real_ct_series(rspect, studies):
    study = studies[0]
    files = sorted(_series_folder(rspect, study).glob("*.dcm"))
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.Modality == "CT"
    assert ds.StudyInstanceUID == study.study_uid and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
    assert ds.ContrastBolusAgent and ds.pixel_array.dtype == np.uint16
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    series_uids = {pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID for f in files}
    assert len(series_uids) == 1


def test_simpleitk_reads_the_series_with_the_same_geometry(rspect, studies):
    for study in studies:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(_series_folder(rspect, study))))
        image = reader.Execute()
        assert np.allclose(image.GetSpacing(), study.volume.spacing, atol=1e-5)
        assert np.allclose(image.GetOrigin(), study.volume.origin, atol=1e-4)
        assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), study.volume.direction)
        assert np.array_equal(sitk.GetArrayFromImage(image), study.volume.array)
        truth = sitk.ReadImage(str(rspect / "truth" / f"{study.study_uid}.nii.gz"))
        assert np.allclose(truth.GetOrigin(), image.GetOrigin(), atol=1e-4)
        assert np.array_equal(sitk.GetArrayFromImage(truth), study.truth)


def test_rspect_readers_read_the_dataset_unchanged(rspect, studies):
    boxes = read_boxes_csv(rspect / "boxes.csv")
    positive, negative = studies
    for study in studies:
        volume = read_dicom_series(_series_folder(rspect, study))
        assert np.array_equal(volume.array, study.volume.array)
        assert volume.same_grid(study.volume)
        labels = read_rspect_labels(rspect / "train.csv", volume)
        assert labels.slice_labels.astype(bool).tolist() == study.slice_labels.tolist()
        exam = labels.exam_labels
        assert exam["negative_exam_for_pe"] == int(study.negative)
        assert exam["leftsided_pe"] == int(any(e["side"] == "left" for e in study.emboli))
        assert exam["rightsided_pe"] == int(any(e["side"] == "right" for e in study.emboli))
        assert exam["central_pe"] == int(any(e["level"] == "central" for e in study.emboli))
        mask = boxes_to_mask(volume, boxes)
        assert mask[study.truth > 0].all()  # every truth voxel is inside its slice's box
        assert (mask.reshape(16, -1).any(axis=1) == study.slice_labels).all()
    assert len(boxes) == len(positive.boxes) and not negative.boxes


def test_open_dataset_lists_the_cases_both_ways(rspect, studies, tmp_path):
    cases = open_dataset(rspect)
    assert [c.id for c in cases] == [s.study_uid for s in studies]
    assert cases[0].provenance["seed"] == 31 and cases[0].provenance["emboli"] == studies[0].emboli
    assert np.array_equal(cases[0].load_label().array, studies[0].truth)
    assert cases[0].slice_labels.astype(bool).tolist() == studies[0].slice_labels.tolist()
    copy = tmp_path / "rspect-only"
    shutil.copytree(rspect, copy)
    (copy / "dataset.json").unlink()  # now only train.csv describes it
    by_table = open_dataset(copy)
    assert sorted(c.id for c in by_table) == sorted(s.study_uid for s in studies)
    for case in by_table:
        study = next(s for s in studies if s.study_uid == case.id)
        assert case.slice_labels.astype(bool).tolist() == study.slice_labels.tolist()


def test_nifti_layout(tmp_path, studies):
    out = write_dataset(tmp_path / "nifti", studies, layout="nifti")
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["format"] == "iexplain-dataset" and manifest["version"] == 1
    cases = open_dataset(out)
    for case, study in zip(cases, studies):
        image = case.load_image()
        assert np.array_equal(image.array, study.volume.array) and image.same_grid(study.volume)
        assert np.array_equal(case.load_label().array, study.truth)
        assert case.slice_labels.astype(bool).tolist() == study.slice_labels.tolist()
    assert np.array_equal(read_volume(out / "images" / "case-000.nii.gz").array, studies[0].volume.array)


def test_existing_output_is_refused_unless_overwrite(tmp_path, studies):
    out = tmp_path / "ds"
    write_dataset(out, studies[1:], layout="nifti")
    with pytest.raises(OutputExistsError):
        write_dataset(out, studies[:1], layout="nifti")
    write_dataset(out, studies[:1], layout="nifti", overwrite=True)
    assert open_dataset(out)[0].provenance["seed"] == 31


def test_failure_midway_leaves_nothing(tmp_path, studies):
    def broken():
        yield studies[0]
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        write_dataset(tmp_path / "ds", broken(), layout="rspect")
    assert list(tmp_path.iterdir()) == []


def test_bad_layout_and_duplicate_studies_are_refused(tmp_path, studies):
    with pytest.raises(InputError, match="layout"):
        write_dataset(tmp_path / "a", studies, layout="png")
    with pytest.raises(InputError, match="share"):
        write_dataset(tmp_path / "b", [studies[0], studies[0]], layout="nifti")
    assert not (tmp_path / "b").exists()
