"""Damaged inputs are refused in one line by every reader; intact ones still read exactly.

Every file here is real: written by SimpleITK, nibabel or pydicom into tmp_path, then cut or damaged byte-wise the
way an interrupted copy or download leaves it, and read back through ``read_volume`` and the ``iexplain`` commands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from IExplainLib.cli.main import main
from IExplainLib.errors import InputError
from IExplainLib.io import read_volume
from IExplainLib.phantoms.dicom_writer import write_series
from IExplainLib.volume import Volume

# Every way a CT image file reaches IExplain outside DICOM: (file name, compressed)
IMAGE_FILES = [("ct.nii.gz", True), ("ct.nii", False), ("ct.nrrd", True), ("raw.nrrd", False), ("ct.mha", True),
               ("raw.mha", False), ("ct.mhd", True)]


@pytest.fixture
def ct() -> Volume:
    # Random HU compress poorly, so cutting a file in half cuts the voxel data in half, as in the report.
    values = np.random.default_rng(26).integers(-1024, 2000, (24, 32, 40), dtype=np.int16)
    return Volume(values, (0.8, 0.8, 2.5), (-10.0, 20.0, -300.0))


def write(path: Path, volume: Volume, compressed: bool) -> Path:
    """The file as SimpleITK writes it (an .mhd gets its data in a separate .zraw/.raw file)."""
    image = sitk.GetImageFromArray(volume.array)
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    sitk.WriteImage(image, str(path), useCompression=compressed)
    return path


def cut(path: Path, keep: float | int = 0.5) -> None:
    """Keep a fraction (float) or a number of bytes (int) of the file, as an interrupted copy does."""
    data = path.read_bytes()
    path.write_bytes(data[:keep if isinstance(keep, int) else int(len(data) * keep)])


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    return error


@pytest.mark.parametrize("name,compressed", IMAGE_FILES)
def test_intact_files_read_back_exactly(tmp_path, ct, name, compressed):
    volume = read_volume(write(tmp_path / name, ct, compressed))
    np.testing.assert_array_equal(volume.array, ct.array)
    assert volume.spacing == pytest.approx(ct.spacing) and volume.origin == pytest.approx(ct.origin)


@pytest.mark.parametrize("name,compressed", IMAGE_FILES)
def test_a_file_cut_in_half_is_refused(tmp_path, ct, name, compressed):
    path = write(tmp_path / name, ct, compressed)
    cut(path.with_suffix(".zraw") if name.endswith(".mhd") else path)
    with pytest.raises(InputError, match="truncated file: its (compressed )?data") as refused:
        read_volume(path)
    message = str(refused.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert f"of the {ct.array.nbytes:,}" in message or f"of the {ct.array.nbytes + 352:,}" in message


def test_a_cut_nifti_is_refused_by_info_and_convert_without_touching_outputs(tmp_path, ct, capsys):
    """The issue's report: `info` exited 0 and `convert` wrote the volume with its missing half zero-filled."""
    path = write(tmp_path / "ct.nii.gz", ct, True)
    cut(path)
    assert main(["info", str(path)]) == 2
    assert "truncated file: its compressed data breaks off after" in one_line_error(capsys)
    fresh = tmp_path / "out.nrrd"
    assert main(["convert", str(path), str(fresh)]) == 2
    one_line_error(capsys)
    assert not fresh.exists() and not list(tmp_path.glob(".partial-*"))
    existing = tmp_path / "existing.nrrd"
    existing.write_bytes(b"earlier result")
    assert main(["convert", str(path), str(existing), "--overwrite"]) == 2
    one_line_error(capsys)
    assert existing.read_bytes() == b"earlier result"


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nrrd", "ct.mha"])
def test_a_damaged_compressed_stream_is_refused(tmp_path, ct, name):
    path = write(tmp_path / name, ct, True)
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 64):  # a burst of flipped bits mid-stream, length kept
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="(corrupted|truncated) file") as refused:
        read_volume(path)
    assert "\n" not in str(refused.value)


def test_a_gzip_checksum_mismatch_is_refused(tmp_path, ct):
    """A change the deflate decoder cannot see (the stored CRC) still fails: the stream is read to its trailer."""
    path = write(tmp_path / "ct.nii.gz", ct, True)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0x01  # gzip trailer: CRC32, then the length
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupted file: its compressed data cannot be decompressed"):
        read_volume(path)


def test_a_detached_nrrd_data_file_cut_short_is_refused_naming_both(tmp_path, ct):
    write(tmp_path / "ct.nrrd", ct, True)
    header, _, data = (tmp_path / "ct.nrrd").read_bytes().partition(b"\n\n")
    (tmp_path / "ct.raw.gz").write_bytes(data[:len(data) // 2])
    (tmp_path / "ct.nhdr").write_bytes(header + b"\ndata file: ct.raw.gz\n\n")
    with pytest.raises(InputError, match=r"ct.nhdr: truncated file: its compressed data file ct.raw.gz"):
        read_volume(tmp_path / "ct.nhdr")
    (tmp_path / "ct.raw.gz").unlink()
    with pytest.raises(InputError, match="ct.nhdr: its data file .*ct.raw.gz is missing"):
        read_volume(tmp_path / "ct.nhdr")


# --- NaN and inf voxels ----------------------------------------------------------------------------------------------


def float_ct(ct: Volume) -> Volume:
    return ct.with_array(ct.array.astype(np.float32) + 0.25)


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nrrd", "ct.mha"])
def test_nan_and_inf_voxels_are_refused_with_their_count(tmp_path, ct, name):
    volume = float_ct(ct)
    volume.array[0, 0, :5] = np.nan
    volume.array[3, 4, 5] = np.inf
    volume.array[4, 4, 5] = -np.inf
    path = write(tmp_path / name, volume, True)
    if name.endswith(".nii.gz"):  # what made the NIfTI case silent: SimpleITK reads its NaN as 0
        assert not np.isnan(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).any()
    with pytest.raises(InputError, match=rf"{name}: 7 of {ct.array.size:,} voxels \(.* %\) are NaN or infinite"):
        read_volume(path)


def test_nan_written_by_nibabel_is_refused(tmp_path, ct):
    import nibabel

    values = float_ct(ct).array.T.copy()  # nibabel holds (x, y, z)
    values[1, 2, 3] = np.nan
    nibabel.save(nibabel.Nifti1Image(values, np.diag([0.8, 0.8, 2.5, 1.0])), tmp_path / "nib.nii")
    with pytest.raises(InputError, match="1 of .* voxels .* are NaN or infinite"):
        read_volume(tmp_path / "nib.nii")


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nrrd", "ct.mha"])
def test_an_all_nan_volume_is_refused_not_reported_as_zeros(tmp_path, ct, name, capsys):
    path = write(tmp_path / name, ct.with_array(np.full(ct.shape, np.nan, np.float32)), True)
    assert main(["info", str(path)]) == 2
    error = one_line_error(capsys)
    assert f"every voxel ({ct.array.size:,}) is NaN or infinite: the file holds no image values" in error
    assert "0 .. 0" not in error


def test_info_reports_the_real_value_range_of_a_float_volume(tmp_path, ct, capsys):
    volume = float_ct(ct)
    path = write(tmp_path / "ct.nii.gz", volume, True)
    assert main(["info", str(path), "--json"]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    assert (summary["min"], summary["max"]) == (float(volume.array.min()), float(volume.array.max()))


# --- DICOM --------------------------------------------------------------------------------------------------------


@pytest.fixture
def dicom_series(tmp_path, ct) -> Path:
    folder = tmp_path / "series"
    write_series(folder, Volume(ct.array[:6], ct.spacing, ct.origin), "1.2.826.0.1.3680043.8.498.26")
    return folder


def slice_files(folder: Path) -> list[Path]:
    """The series' files in slice order (the writer names them by SOP UID, not by position)."""
    return sorted(folder.glob("*.dcm"), key=lambda path: float(pydicom.dcmread(path).ImagePositionPatient[2]))


@pytest.mark.parametrize("keep", [0.5, 600], ids=["in the pixel data", "in the header"])
@pytest.mark.parametrize("which", [0, 3], ids=["end slice", "middle slice"])
def test_a_cut_dicom_slice_is_refused_not_left_out(dicom_series, keep, which):
    """A cut end slice used to be left out as "without pixel data": the volume lost a slice with only a warning."""
    assert read_volume(dicom_series).shape[0] == 6
    victim = slice_files(dicom_series)[which]
    cut(victim, keep)
    # a cut between elements leaves a complete header without the image: refused as such
    refusal = r"(truncated DICOM file \(.*\); copy it again|CT image with no pixel data \(a file cut short)"
    with pytest.raises(InputError, match=rf"{victim.name}: {refusal}"):
        read_volume(dicom_series)


def test_a_cut_compressed_dicom_file_is_refused(dicom_series, tmp_path):
    from pydicom.uid import RLELossless

    dataset = pydicom.dcmread(slice_files(dicom_series)[0])
    dataset.compress(RLELossless)
    path = tmp_path / "rle.dcm"
    dataset.save_as(path)
    assert read_volume(path).shape[0] == 1
    cut(path, 0.6)
    with pytest.raises(InputError, match=r"rle.dcm: truncated DICOM file \(End of file"):
        read_volume(path)


def test_a_cut_file_of_another_series_is_counted_not_fatal(dicom_series, ct, tmp_path):
    other = tmp_path / "other"
    write_series(other, Volume(ct.array[:3], ct.spacing, ct.origin), "1.2.826.0.1.3680043.8.498.27")
    victim = slice_files(other)[1]
    cut(victim)
    victim.rename(dicom_series / "other-series.dcm")
    uid = str(pydicom.dcmread(slice_files(dicom_series)[0]).SeriesInstanceUID)
    volume = read_volume(dicom_series, series_uid=uid)
    assert volume.shape[0] == 6 and "left out 1 truncated file(s) of other series" in volume.metadata["warnings"]
    other_uid = str(pydicom.dcmread(slice_files(other)[0]).SeriesInstanceUID)
    with pytest.raises(InputError, match="other-series.dcm: truncated DICOM file"):
        read_volume(dicom_series, series_uid=other_uid)


def test_a_cut_segmentation_is_refused(tmp_path, ct):
    from IExplainLib.io import iteration_segments, read_segmentation, write_segmentation

    labels = ct.with_array((ct.array > 1500).astype(np.uint8) + (ct.array > 1800).astype(np.uint8))
    path = write_segmentation(tmp_path / "pe.seg.nrrd", labels, iteration_segments(2))
    np.testing.assert_array_equal(read_segmentation(path)[0].array, labels.array)
    cut(path)
    with pytest.raises(InputError, match=r"pe.seg.nrrd: truncated file: its compressed data breaks off"):
        read_segmentation(path)


def test_a_cut_dicom_seg_is_refused(dicom_series, tmp_path):
    from IExplainLib.io import read_dicom_seg, write_dicom_seg

    ct_volume = read_volume(dicom_series)
    labels = ct_volume.with_array((ct_volume.array > 1500).astype(np.uint8))
    path = write_dicom_seg(tmp_path / "pe.dcm", labels, source=ct_volume)
    np.testing.assert_array_equal(read_dicom_seg(path, ct_volume)[0].array, labels.array)
    cut(path, 0.8)
    with pytest.raises(InputError, match=r"pe.dcm: truncated DICOM file \("):
        read_dicom_seg(path, ct_volume)


def test_no_traceback_from_the_installed_command(tmp_path, ct):
    import subprocess
    import sys

    path = write(tmp_path / "ct.nii.gz", ct, True)
    cut(path)
    result = subprocess.run([sys.executable, "-m", "IExplainLib.cli.main", "info", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"iexplain info: error: {path}: truncated file")


def test_a_multi_member_gzip_nifti_reads_and_its_cut_is_refused(tmp_path, ct):
    """bgzip and pigz --independent write several gzip members; SimpleITK reads them all, and so does the check."""
    import gzip

    plain = write(tmp_path / "ct.nii", ct, False).read_bytes()
    members = tmp_path / "members.nii.gz"
    members.write_bytes(b"".join(gzip.compress(plain[start:start + 10000]) for start in range(0, len(plain), 10000)))
    np.testing.assert_array_equal(read_volume(members).array, ct.array)
    cut(members, 0.7)
    with pytest.raises(InputError, match="members.nii.gz: truncated file"):
        read_volume(members)
