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
