"""Refusing damaged image files and non-finite voxels before they become a CT that looks normal.

SimpleITK does not refuse everything it should: a NIfTI file cut short (``.nii.gz`` or ``.nii``) reads without an
error, the missing part zero-filled, and its NIfTI reader turns NaN voxels into 0 (soft-tissue density, the density
of a clot). So every image file is checked here first, with the format's own libraries (nibabel for the NIfTI
header, pynrrd for the NRRD header, zlib for the compressed streams):

* a compressed payload (gzip NIfTI and NRRD, zlib/gzip MetaImage) is decompressed to its end, so a cut or damaged
  stream fails on its missing end-of-stream marker or its checksum;
* the payload, compressed or raw, must hold every byte the header declares.

A CT holds finite HU; NaN or inf voxels (typically padding from a resampling tool) are refused, with their count,
rather than replaced: IExplain's commands do not show reader warnings, and any fill value would be a guess.
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError

_CHUNK = 1 << 20
_MAX_OUTPUT = 1 << 24  # decompressed bytes held at once: CT air compresses ~1000:1, so never decompress unbounded

# NRRD "type" spellings (NRRD format spec, section "type") and MetaImage ElementType, as bytes per value.
_NRRD_TYPE_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t", "ushort",
                     "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t",
                     "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64",
                     "int64_t", "ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t",
                     "double"), 8),
}
_MET_TYPE_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
                   "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4,
                   "MET_DOUBLE": 8}


def check_image_file(path: Path, suffix: str) -> None:
    """Refuse, in one line, an image file whose data is cut short or whose compressed stream is damaged."""
    if suffix in (".nii", ".nii.gz"):
        _check_nifti(path)
    elif suffix in (".nrrd", ".nhdr"):
        _check_nrrd(path)
    elif suffix in (".mha", ".mhd"):
        _check_metaimage(path)


def refuse_non_finite(path: str | os.PathLike, values: np.ndarray) -> None:
    """Refuse NaN and inf voxels (integer arrays cannot hold them and are not scanned)."""
    if values.dtype.kind not in "fc":
        return
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad == values.size:
        raise InputError(f"{path}: every voxel ({values.size:,}) is NaN or infinite: the file holds no image values")
    if bad:
        raise InputError(f"{path}: {bad:,} of {values.size:,} voxels ({100 * bad / values.size:.3g} %) are NaN or "
                         "infinite; a CT holds finite HU, so IExplain refuses it rather than guess values for them "
                         "(fill them, e.g. with -1024 HU for padding outside the scan, and read it again)")


def _refuse_short(path: Path, have: int, need: int, what: str) -> None:
    if have < need:
        raise InputError(f"{path}: truncated file: its {what} holds {have:,} of the {need:,} bytes its header "
                         "declares (copy it again from its source)")


def _check_stream(path: Path, data: Path, offset: int, need: int, what: str) -> None:
    """Decompress the zlib or gzip stream at ``offset`` of ``data`` (the file ``path`` or its data file) to its end:
    a cut stream lacks its end marker, a damaged one fails its checksum; then it must hold ``need`` bytes."""
    decompressor = zlib.decompressobj(wbits=47)  # 32 + 15: accept a zlib or a gzip header, check its trailer
    total = 0
    try:
        with open(data, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(_CHUNK)
            while chunk:
                total += len(decompressor.decompress(chunk, _MAX_OUTPUT))
                chunk = decompressor.unconsumed_tail
                if decompressor.eof:
                    rest = decompressor.unused_data or handle.read(_CHUNK)
                    if not rest.startswith(b"\x1f\x8b"):
                        break  # the end (padding after the stream is ignored, as zlib's gzread does)
                    # another gzip member follows (bgzip, pigz --independent, concatenated .gz files)
                    decompressor, chunk = zlib.decompressobj(wbits=47), rest
                elif not chunk:
                    chunk = handle.read(_CHUNK)
            total += len(decompressor.flush())
    except zlib.error as error:
        raise InputError(f"{path}: corrupted file: its compressed {what} cannot be decompressed ({error})") from error
    if not decompressor.eof:
        raise InputError(f"{path}: truncated file: its compressed {what} breaks off after {total:,} of the {need:,} "
                         "bytes its header declares (copy it again from its source)")
    _refuse_short(path, total, need, f"compressed {what}")


def _check_nifti(path: Path) -> None:
    import nibabel
    from nibabel.arrayproxy import ArrayProxy

    try:
        image = nibabel.load(str(path))  # reads the header only; the data stays on disk
    except Exception:  # a header nibabel cannot parse: SimpleITK judges it and names the problem
        return
    proxy = getattr(image, "dataobj", None)  # Nifti1Image and Nifti2Image: the data stays on disk behind a proxy
    if not isinstance(image, nibabel.Nifti1Image) or not isinstance(proxy, ArrayProxy):
        return
    header = image.header
    # the proxy's offset, not the header's: ITK writes vox_offset 0 and nibabel then uses the minimum, 352
    need = int(proxy.offset) + math.prod(image.shape) * header.get_data_dtype().itemsize
    if str(path).lower().endswith(".gz"):
        _check_stream(path, path, 0, need, "data")
    else:
        _refuse_short(path, path.stat().st_size, need, "data")
    if header.get_data_dtype().kind in "fc":
        # SimpleITK's NIfTI reader silently turns NaN into 0: count them in the stored values instead.
        refuse_non_finite(path, np.asanyarray(proxy.get_unscaled()))


def _check_nrrd(path: Path) -> None:
    import nrrd

    try:
        with open(path, "rb") as handle:
            header = nrrd.read_header(handle)
            offset = handle.tell()
    except Exception:  # a header pynrrd cannot parse: SimpleITK judges it and names the problem
        return
    encoding = str(header.get("encoding", "raw")).lower()
    data, what = path, "data"
    data_file = header.get("data file", header.get("datafile"))
    if data_file is not None:
        if not isinstance(data_file, str) or data_file.upper().startswith("LIST") or " " in data_file:
            return  # lists and numbered file patterns: left to SimpleITK
        data, offset, what = path.parent / data_file, 0, f"data file {data_file}"
        if not data.is_file():
            raise InputError(f"{path}: its data file {data} is missing")
    item = _NRRD_TYPE_BYTES.get(str(header.get("type", "")).lower())
    sizes = header.get("sizes")
    if item is None or sizes is None or int(header.get("line skip", 0) or 0) or int(header.get("byte skip", 0)) < 0:
        return  # block types, skipped lines or data at the file's end: the byte count cannot be told from the header
    need = math.prod(int(size) for size in sizes) * item + int(header.get("byte skip", 0))
    if encoding in ("gzip", "gz"):
        _check_stream(path, data, offset, need, what)
    elif encoding == "raw":
        _refuse_short(path, data.stat().st_size - offset, need, what)


def _check_metaimage(path: Path) -> None:
    fields: dict[str, str] = {}
    with open(path, "rb") as handle:
        for raw_line in handle:  # "Key = Value" lines; ElementDataFile is the last one, the data follows it
            key, _, value = raw_line.decode("latin-1").partition("=")
            fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile":
                break
        offset = handle.tell()
    data, what = path, "data"
    data_file = fields.get("ElementDataFile", "")
    if data_file.upper() != "LOCAL":
        if not data_file or data_file.upper().startswith("LIST") or "%" in data_file or " " in data_file:
            return  # absent, file lists and numbered patterns: left to SimpleITK
        data, offset, what = path.parent / data_file, 0, f"data file {data_file}"
        if not data.is_file():
            raise InputError(f"{path}: its data file {data} is missing")
    item = _MET_TYPE_BYTES.get(fields.get("ElementType", ""))
    try:
        sizes = [int(size) for size in fields.get("DimSize", "").split()]
        channels = int(fields.get("ElementNumberOfChannels", "1"))
        header_size = int(fields.get("HeaderSize", "0"))
    except ValueError:
        return
    if item is None or not sizes or header_size < 0:
        return
    need = math.prod(sizes) * channels * item
    if fields.get("CompressedData", "False").lower() == "true":
        _check_stream(path, data, offset + header_size, need, what)
    else:
        _refuse_short(path, data.stat().st_size - offset - header_size, need, what)
