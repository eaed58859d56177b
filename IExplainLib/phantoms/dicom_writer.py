"""A study as a DICOM CT series, the way a scanner would write it (pydicom).

CT Image Storage, one file per slice, every Type 1 and Type 2 attribute of the CT Image IOD present (``dciodvfy``
reports no error; Testing/io/test_dicom_conformance.py checks it), real geometry (ImagePositionPatient along the slice normal,
ImageOrientationPatient, PixelSpacing, SliceThickness), stored values = HU + 1024 as uint16 with RescaleIntercept
-1024 and slope 1, and InstanceNumber counting from the top of the chest downwards as most scanners do: readers
must order slices by position, never by instance number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, UID, generate_uid

from ..volume import Volume

RESCALE_INTERCEPT = -1024


def series_uids(study_uid: str, slices: int) -> tuple[str, list[str], str]:
    """(SeriesInstanceUID, SOPInstanceUIDs in z order, FrameOfReferenceUID), all derived from the study UID."""
    series = str(generate_uid(entropy_srcs=[study_uid, "series"]))
    sops = [str(generate_uid(entropy_srcs=[study_uid, "sop", str(k)])) for k in range(slices)]
    frame = str(generate_uid(entropy_srcs=[study_uid, "frame-of-reference"]))
    return series, sops, frame


def _fmt(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def write_series(folder: Path, volume: Volume, study_uid: str, description: str = "CTPA synthetic",
                 patient_id: str = "PHANTOM", contrast_agent: str = "IOHEXOL 350 (simulated)") -> list[str]:
    """Write ``volume`` (HU) as ``folder/<SOPInstanceUID>.dcm``; return the SOP UIDs in z (array) order."""
    folder.mkdir(parents=True, exist_ok=True)
    array = volume.array
    nz, ny, nx = array.shape
    series_uid, sops, frame_uid = series_uids(study_uid, nz)
    stored = np.clip(np.rint(array.astype(np.float32)) - RESCALE_INTERCEPT, 0, 65535).astype(np.uint16)
    sx, sy, sz = volume.spacing
    row_dir, col_dir, normal = volume.direction[:, 0], volume.direction[:, 1], volume.direction[:, 2]
    origin = np.asarray(volume.origin)
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = UID(sops[k])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sops[k]
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.Modality = "CT"
        ds.Manufacturer = "IExplain phantom"
        ds.PatientName = f"Phantom^{patient_id}"
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""  # Type 2: present, empty (a phantom has no birth date or sex)
        ds.PatientSex = ""
        ds.ReferringPhysicianName = ""
        ds.AccessionNumber = ""
        ds.PatientPosition = "HFS"
        ds.StudyDate = ds.SeriesDate = "20250101"
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.InstanceNumber = nz - k  # counted from the top of the scan, as scanners do
        ds.AcquisitionNumber = 1
        ds.SeriesDescription = description
        ds.BodyPartExamined = "CHEST"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ContrastBolusAgent = contrast_agent
        ds.KVP = "100"
        position = origin + normal * sz * k
        ds.ImagePositionPatient = [_fmt(v) for v in position]
        ds.ImageOrientationPatient = [_fmt(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [_fmt(sy), _fmt(sx)]  # row spacing (between rows = y), then column spacing
        ds.SliceThickness = _fmt(sz)
        ds.SliceLocation = _fmt(float(position @ normal))
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = str(RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.PixelData = stored[k].tobytes()
        ds.save_as(folder / f"{sops[k]}.dcm", enforce_file_format=True)
    return sops


def read_back_hu(path: Path) -> np.ndarray:
    """HU of one written slice (for checks): stored values with the rescale applied."""
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
