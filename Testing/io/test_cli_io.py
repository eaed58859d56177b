"""``iexplain info`` and ``iexplain convert`` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.io import read_volume


def test_info_on_popi_text_and_json(popi_folder, capsys):
    assert main(["info", str(popi_folder)]) == 0
    text = capsys.readouterr().out
    assert "512x512x141 voxels" in text and "slices: 141" in text and "-1024 .. 2976" in text
    assert main(["info", str(popi_folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["size_xyz"] == [512, 512, 141] and summary["slices"] == 141
    assert summary["spacing_mm"] == [0.9765625, 0.9765625, 2.0]
    assert summary["origin_lps_mm"] == [-250.0, -164.0, -164.5]
    assert (summary["min"], summary["max"]) == (-1024.0, 2976.0)
    assert summary["warnings"] == [] and summary["source_format"] == "dicom"


def test_info_reports_warnings(real_ct, capsys):
    assert main(["info", str(real_ct / "dcmqi_ct3slice_seg")]) == 0
    assert "warning: left out 2 DICOM SEG object(s)" in capsys.readouterr().out


def test_convert_popi_to_nrrd_and_refuse_existing_output(popi_folder, popi_volume, tmp_path, capsys):
    output = tmp_path / "popi.nrrd"
    assert main(["convert", str(popi_folder), str(output)]) == 0
    back = read_volume(output)
    np.testing.assert_array_equal(back.array, popi_volume.array)
    assert back.spacing == popi_volume.spacing and back.origin == popi_volume.origin
    capsys.readouterr()
    before = output.stat().st_mtime_ns
    assert main(["convert", str(popi_folder), str(output)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists (use --overwrite" in error
    assert output.stat().st_mtime_ns == before


def test_convert_single_file_to_nifti_with_overwrite(real_ct, tmp_path, capsys):
    output = tmp_path / "ct.nii.gz"
    output.write_text("old")
    source = real_ct / "pydicom_small_ct/CT_small.dcm"
    assert main(["convert", str(source), str(output), "--overwrite"]) == 0
    np.testing.assert_array_equal(read_volume(output).array, read_volume(source).array)


@pytest.mark.parametrize("argv,message", [
    (["info", "/no/such/ct"], "CT /no/such/ct not found"),
    (["convert", "/no/such/ct", "OUT.nrrd"], "not found"),
    (["convert", "IN", "out.png"], "output must end in"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_refused_dicom_via_subprocess_has_no_traceback(real_ct):
    localizer = real_ct / "dcm_qa_ct_gantry_tilt/Philips_localizer"
    result = subprocess.run([sys.executable, "-m", "IExplainLib.cli.main", "info", str(localizer)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "localizer/scout" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["info", "convert"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: iexplain " + command in capsys.readouterr().out
