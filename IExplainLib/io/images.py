"""Reading any supported CT input into a :class:`Volume`, and writing volumes as NRRD, NIfTI or MHA.

NIfTI, NRRD and MetaImage go through SimpleITK, whose geometry convention (spacing/origin (x, y, z) in LPS, direction
columns = axes) is the Volume's, so nothing is converted: ``GetArrayFromImage`` is already (z, y, x).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, UnsupportedInputError
from ..outputs import atomic_output
from ..volume import Volume
from .integrity import check_image_file, refuse_non_finite

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
SUPPORTED = "a DICOM series folder or file, .nii/.nii.gz, .nrrd/.nhdr or .mha/.mhd"


def image_suffix(path: str | os.PathLike) -> str | None:
    """The recognised image file ending of ``path`` (``.nii.gz`` counts as one), or None."""
    name = str(path).lower()
    return next((suffix for suffix in IMAGE_SUFFIXES if name.endswith(suffix)), None)


def _is_dicom_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(132)
    if header[128:132] == b"DICM":
        return True
    import pydicom  # a file without preamble (old implicit-VR files): let pydicom judge
    try:
        pydicom.dcmread(path, stop_before_pixels=True, force=False)
        return True
    except Exception:
        return False


def read_volume(path: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read a CT from a DICOM folder/file, NIfTI, NRRD or MHA; refuse anything else in one line."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} not found")
    if image_suffix(path) and not path.is_dir():
        volume = read_image_file(path)
    elif path.is_dir() or _is_dicom_file(path):
        from .dicom_series import read_dicom_series
        volume = read_dicom_series(path, series_uid)
    else:
        raise UnsupportedInputError(f"{path}: not a supported image format (expected {SUPPORTED})")
    refuse_non_finite(path, volume.array)  # float DICOM, NRRD and MHA keep NaN/inf as read
    return volume


def sitk_to_volume(image, metadata: dict | None = None) -> Volume:
    import SimpleITK as sitk

    if image.GetDimension() != 3:
        raise UnsupportedInputError(f"a {image.GetDimension()}D image, expected a 3D volume")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise UnsupportedInputError(f"{image.GetNumberOfComponentsPerPixel()} components per voxel, "
                                    "expected a scalar (grey-level) volume")
    array = sitk.GetArrayFromImage(image)
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    return Volume(array, image.GetSpacing(), image.GetOrigin(), direction, metadata or {})


def volume_to_sitk(volume: Volume):
    import SimpleITK as sitk

    array = volume.array
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(float(v) for v in volume.direction.reshape(-1)))
    return image


def read_image_file(path: str | os.PathLike) -> Volume:
    """NIfTI / NRRD / MHA through SimpleITK, after :func:`.integrity.check_image_file`."""
    import SimpleITK as sitk

    path = Path(path)
    suffix = image_suffix(path)
    if suffix is None:  # read_volume only calls this for the endings image_suffix knows
        raise UnsupportedInputError(f"{path}: not a supported image format (expected {SUPPORTED})")
    check_image_file(path, suffix)  # SimpleITK zero-fills a cut NIfTI and zeroes its NaN voxels without a word
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"{path}: cannot read as {suffix} ({_first_itk_line(error)})") from error
    try:
        return sitk_to_volume(image, {"source_format": suffix.lstrip(".").split(".")[0], "warnings": [],
                                      "source_files": [str(path)]})
    except UnsupportedInputError as error:
        raise UnsupportedInputError(f"{path}: {error}") from error


def _first_itk_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if "Description:" in line or "ERROR" in line.upper()]
    return (useful or lines or [type(error).__name__])[-1][:200]


def checked_path_and_volume(path, volume) -> tuple[Path, Volume]:
    """Every writer takes (path, data); swapped arguments fail here, by name, instead of deep inside SimpleITK."""
    if not isinstance(volume, Volume):
        raise TypeError(f"writers take (path, Volume), got ({type(path).__name__}, {type(volume).__name__})")
    return Path(path), volume


def write_volume(path: str | os.PathLike, volume: Volume, overwrite: bool = False, compress: bool = True) -> Path:
    """Write a volume as .nrrd, .nii(.gz) or .mha with its exact geometry, atomically.

    NRRD and MHA keep spacing, origin and direction as doubles (exact); NIfTI stores them as float32.
    """
    import SimpleITK as sitk

    path, volume = checked_path_and_volume(path, volume)
    suffix = image_suffix(path)
    if suffix not in WRITE_SUFFIXES:
        raise UnsupportedInputError(f"{path}: cannot write this format (use {', '.join(WRITE_SUFFIXES)})")
    image = volume_to_sitk(volume)
    with atomic_output(path, overwrite) as temporary:
        try:
            sitk.WriteImage(image, str(temporary), useCompression=compress)
        except RuntimeError as error:
            raise InputError(f"cannot write {path}: {_first_itk_line(error)}") from error
    return path
