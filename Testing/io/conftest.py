"""Independent references for the IO tests: pydicom for single objects, SimpleITK/GDCM for series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pydicom


def pydicom_hu(path: Path) -> np.ndarray:
    """Stored values times RescaleSlope plus RescaleIntercept, straight from pydicom, as (frames, rows, cols)."""
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array.astype(np.float64)
    if "SharedFunctionalGroupsSequence" in dataset:
        transform = dataset.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
        slope, intercept = float(transform.RescaleSlope), float(transform.RescaleIntercept)
    else:
        slope, intercept = float(dataset.get("RescaleSlope", 1)), float(dataset.get("RescaleIntercept", 0))
    values = pixels * slope + intercept
    return values[np.newaxis] if values.ndim == 2 else values


def sitk_series(folder: Path, series_uid: str = ""):
    """SimpleITK's own DICOM series reader (GDCM) on a folder (one series of it when ``series_uid`` is given)."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series_uid))
    return reader.Execute()


def assert_matches_sitk(volume, image) -> None:
    import SimpleITK as sitk

    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(volume.direction, np.reshape(image.GetDirection(), (3, 3)), atol=1e-9)


class References:
    """Bundle of the reference readers, handed to tests through the ``ref`` fixture."""

    pydicom_hu = staticmethod(pydicom_hu)
    sitk_series = staticmethod(sitk_series)
    assert_matches_sitk = staticmethod(assert_matches_sitk)


@pytest.fixture(scope="session")
def ref() -> References:
    return References()


@pytest.fixture(scope="session")
def popi_volume(popi_folder):
    from IExplainLib.io import read_volume

    return read_volume(popi_folder)


@pytest.fixture(scope="session")
def synthetic_dicom(tmp_path_factory):
    """One small phantom study written by ``iexplain synth --layout rspect``: (series folder, truth NIfTI)."""
    from IExplainLib.cli.main import main

    root = tmp_path_factory.mktemp("synthetic-rspect") / "study"
    assert main(["synth", str(root), "--studies", "1", "--seed", "5", "--slices", "12", "--size", "64",
                 "--emboli", "2", "--negative-fraction", "0", "--progress", "quiet"]) == 0
    series = [folder for folder in root.glob("*/*") if folder.is_dir() and any(folder.glob("*.dcm"))]
    assert len(series) == 1
    return series[0], next((root / "truth").glob("*.nii.gz"))


@pytest.fixture
def anonymised_copy(synthetic_dicom, tmp_path):
    """The synthetic series with every Type 2 attribute an anonymiser may strip removed (RSPECT-like)."""
    folder = tmp_path / "anonymised"
    folder.mkdir()
    for path in synthetic_dicom[0].glob("*.dcm"):
        dataset = pydicom.dcmread(path)
        for keyword in ("PatientBirthDate", "PatientSex", "ReferringPhysicianName", "AccessionNumber", "StudyID",
                        "PositionReferenceIndicator", "AcquisitionNumber", "SliceThickness", "StudyTime"):
            if keyword in dataset:
                delattr(dataset, keyword)
        dataset.save_as(folder / path.name)
    return folder
