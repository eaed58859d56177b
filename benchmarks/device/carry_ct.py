"""A lossless, smaller copy of the POPI chest CT for the lent GPU machine (issue 25), made by prepare.sh.

The 141 DICOM slices (78 MB, implicit VR, uncompressed) would not travel beside the working tree and the wheels in the
64 MiB a device call carries. Each slice is written again as Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99):
zlib inside the DICOM file, which pydicom reads with no decoder plugin (the machine has none). Nothing else changes:
every element is kept (the malformed private element (01F1,1026) as UN), and the copy is read back with the library's
own reader and checked voxel for voxel and in its geometry against the original before it is kept.

    python benchmarks/device/carry_ct.py SOURCE_ROOT DEST_ROOT     # SOURCE_ROOT/popi_4dct_phase00_chest_ct -> DEST_ROOT/...

run.sh points IEXPLAIN_REAL_CT at DEST_ROOT when it exists, so the quality sets that need the real CT run there too.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

FOLDER = "popi_4dct_phase00_chest_ct"


def deflate_series(source: Path, dest: Path) -> int:
    """Every slice of ``source`` rewritten deflated into ``dest``; the bytes written."""
    import pydicom
    from pydicom import config
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    dest.mkdir(parents=True)
    total = 0
    # the POPI's private (01F1,1026) has a wrong length for its VR; pydicom's setting is global, so it is put back
    # (a caller in the same process, the tests among them, reads with pydicom's own default)
    before = config.convert_wrong_length_to_UN
    config.convert_wrong_length_to_UN = True
    try:
        for path in sorted(source.glob("*.dcm")):
            dataset = pydicom.dcmread(path)
            dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom says it keeps (01F1,1026) as UN, slice after slice
                dataset.save_as(dest / path.name, implicit_vr=False, little_endian=True, enforce_file_format=True)
            total += (dest / path.name).stat().st_size
    finally:
        config.convert_wrong_length_to_UN = before
    return total


def check_same(source: Path, dest: Path) -> tuple:
    """The copy read back by the library equals the original: voxels, spacing, origin, direction."""
    import numpy as np

    from IExplainLib.io import read_volume

    original, copy = read_volume(source), read_volume(dest)
    same = (np.array_equal(original.array, copy.array) and original.array.dtype == copy.array.dtype
            and np.array_equal(np.asarray(original.spacing), np.asarray(copy.spacing))
            and np.array_equal(np.asarray(original.origin), np.asarray(copy.origin))
            and np.array_equal(np.asarray(original.direction), np.asarray(copy.direction)))
    if not same:
        raise SystemExit(f"the deflated copy in {dest} differs from {source}: not kept")
    return original.shape


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    source, dest_root = Path(argv[0]) / FOLDER, Path(argv[1])
    if not source.is_dir():
        print(f"no real CT at {source}: nothing to carry (the real-CT quality sets are skipped on the device)")
        return 0
    dest = dest_root / FOLDER
    shutil.rmtree(dest_root, ignore_errors=True)
    try:
        written = deflate_series(source, dest)
        shape = check_same(source, dest)
    except BaseException:
        shutil.rmtree(dest_root, ignore_errors=True)
        raise
    original = sum(path.stat().st_size for path in source.glob("*.dcm"))
    print(f"{dest}: {len(list(dest.glob('*.dcm')))} slices {shape}, {written:,} bytes "
          f"({written / 2 ** 20:.1f} MiB; the original {original:,}), the same voxels and geometry")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
