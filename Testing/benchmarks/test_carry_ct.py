"""The POPI CT carried to the lent GPU machine (benchmarks/device/carry_ct.py, issue 25): deflated DICOM, smaller, and
read back by the library, with no decoder plugin and without SimpleITK (as there), into the same voxels and geometry."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from IExplainLib.io import read_volume

PROJECT = Path(__file__).resolve().parents[2]
FOLDER = "popi_4dct_phase00_chest_ct"
READ_WITHOUT_SIMPLEITK = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("SimpleITK", "pylibjpeg", "openjpeg", "libjpeg", "gdcm"):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Absent())
import numpy as np
from IExplainLib.io import read_volume
volume = read_volume(sys.argv[1])
np.save(sys.argv[2], volume.array)
print(volume.metadata["transfer_syntaxes"])
"""


def _carry_ct():
    spec = importlib.util.spec_from_file_location("carry_ct", PROJECT / "benchmarks" / "device" / "carry_ct.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_carried_ct_is_smaller_and_reads_back_the_same(popi_folder, tmp_path):
    source = tmp_path / "source" / FOLDER
    source.mkdir(parents=True)
    for path in sorted(popi_folder.glob("*.dcm"))[60:64]:  # four chest slices: the same code path, seconds
        shutil.copy(path, source / path.name)
    carry_ct = _carry_ct()
    from pydicom import config

    before = config.convert_wrong_length_to_UN
    assert carry_ct.main([str(tmp_path / "source"), str(tmp_path / "carried")]) == 0
    assert config.convert_wrong_length_to_UN == before  # pydicom's global setting put back for every later reader
    copy = tmp_path / "carried" / FOLDER
    written = sum(path.stat().st_size for path in copy.glob("*.dcm"))
    assert written < 0.6 * sum(path.stat().st_size for path in source.glob("*.dcm"))
    original = read_volume(source)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    result = subprocess.run([sys.executable, "-c", READ_WITHOUT_SIMPLEITK, str(copy), str(tmp_path / "read.npy")],
                            env=env, cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1.2.840.10008.1.2.1.99" in result.stdout                  # deflated explicit VR little endian
    assert np.array_equal(np.load(tmp_path / "read.npy"), original.array)
    carried = read_volume(copy)
    assert carried.spacing == original.spacing and np.array_equal(carried.origin, original.origin)
    # nothing to carry where there is no real CT: said, not an error
    assert carry_ct.main([str(tmp_path / "none"), str(tmp_path / "nothing")]) == 0
    assert not (tmp_path / "nothing").exists()
