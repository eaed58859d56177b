"""DICOM SEG wherever a result is written: ``detect --dicom-seg`` (both methods) and ``pseudo-label --dicom-seg``,
read back on the DICOM CT voxel for voxel, valid for dciodvfy; refused in one line where the CT is not DICOM. A
resumed pseudo-label run removes what a killed one left, and says so."""

from __future__ import annotations

import json

import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.io import read_dicom_seg, read_segmentation, read_volume, write_volume
from IExplainLib.outputs import _temporary_sibling
from IExplainLib.phantoms.dicom_writer import write_series


def _dicom_study(folder, study) -> object:
    write_series(folder, study.volume, f"1.2.826.0.1.3680043.8.498.{abs(hash(str(folder))) % 10 ** 12}")
    return folder


@pytest.fixture(scope="module")
def dicom_ct(tiny_study, tmp_path_factory):
    return _dicom_study(tmp_path_factory.mktemp("dicom") / "series", tiny_study)


@pytest.fixture(scope="module")
def dicom_dataset(tmp_path_factory):
    from IExplainLib.phantoms import make_study

    root = tmp_path_factory.mktemp("dicom-dataset")
    cases = []
    for k in range(2):
        _dicom_study(root / "images" / f"case-00{k}", make_study(seed=30 + k, slices=9, size=40, n_emboli=1))
        cases.append({"id": f"case-00{k}", "image": f"images/case-00{k}"})
    (root / "dataset.json").write_text(json.dumps({"format": "iexplain-dataset", "version": 1, "cases": cases}))
    return root


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("method", ["iexplain", "segmenter"])
def test_detect_writes_a_dicom_seg_on_the_source_series(method, dicom_ct, classifier_file, fast_flags, tmp_path,
                                                        capsys, dciodvfy):
    out, seg = tmp_path / "r.seg.nrrd", tmp_path / "r.dcm"
    flags = ["--classifier", classifier_file, *fast_flags] if method == "iexplain" else \
        ["--method", "segmenter", "--device", "cpu", "--progress", "quiet"]
    code, _, stderr = run(["detect", dicom_ct, "-o", out, "--dicom-seg", seg, *flags], capsys)
    assert code == 0, stderr
    ct = read_volume(dicom_ct)
    labelmap, segments = read_dicom_seg(seg, ct)
    nrrd, nrrd_segments = read_segmentation(out)
    np.testing.assert_array_equal(labelmap.array, nrrd.array)
    expected = [s.name for s in nrrd_segments] or ["PE (none found)"]
    assert [s.name for s in segments] == expected
    assert all(s.terminology["type"][1] == "55584005" for s in segments)
    assert dciodvfy(seg, "Segmentation") == []
    assert json.loads((tmp_path / "r.findings.json").read_text())["dicom_seg"] == str(seg.resolve())
    code, _, stderr = run(["detect", dicom_ct, "-o", tmp_path / "again.seg.nrrd", "--dicom-seg", seg, *flags], capsys)
    assert code == 2 and "already exists" in stderr


@pytest.mark.parametrize("case", ["nrrd CT", "not .dcm"])
def test_detect_refuses_dicom_seg_in_one_line_before_working(case, tiny_study, classifier_file, fast_flags,
                                                             tmp_path, capsys):
    ct = write_volume(tmp_path / "ct.nrrd", tiny_study.volume)
    seg = tmp_path / ("r.dcm" if case == "nrrd CT" else "r.seg.nrrd")
    code, _, stderr = run(["detect", ct, "-o", tmp_path / "r.seg.nrrd", "--dicom-seg", seg,
                           "--classifier", classifier_file, *fast_flags], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert ("needs a CT read from a DICOM series" if case == "nrrd CT" else "must end with .dcm") in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nrrd"]  # refused before any output


def test_pseudo_label_dicom_seg_resume_and_leftovers(dicom_dataset, classifier_file, fast_flags, tmp_path, capsys,
                                                     dciodvfy):
    out = tmp_path / "pseudo"
    args = ["pseudo-label", dicom_dataset, "-o", out, "--classifier", classifier_file, "--dicom-seg", *fast_flags]
    code, _, stderr = run(args, capsys)
    assert code == 0, stderr
    for case in ("case-000", "case-001"):
        ct = read_volume(dicom_dataset / "images" / case)
        labels = read_dicom_seg(out / "dicom-seg" / f"{case}.dcm", ct)[0].array
        np.testing.assert_array_equal(labels, read_segmentation(out / "segmentations" / f"{case}.seg.nrrd")[0].array)
    assert dciodvfy(out / "dicom-seg" / "case-000.dcm", "Segmentation") == []

    # as if killed: one SEG never written, one heat map's temporary stranded; the rerun repairs both
    (out / "dicom-seg" / "case-001.dcm").unlink()
    leftover = _temporary_sibling(out / "heatmaps" / "case-001.nrrd")
    leftover.write_bytes(b"half a heat map")
    findings = out / "findings" / "case-001.json"
    before = findings.stat().st_mtime_ns
    code, _, stderr = run([*args[:-1], "text"], capsys)
    assert code == 0, stderr
    assert "removed 1 temporary file(s) an interrupted run left" in stderr and leftover.name in stderr
    assert not leftover.exists() and not list(out.rglob(".partial-*"))
    assert (out / "dicom-seg" / "case-001.dcm").is_file() and findings.stat().st_mtime_ns == before  # not redone
    assert "2 already done" in stderr


def test_pseudo_label_dicom_seg_refuses_non_dicom_cases(tiny_study, classifier_file, fast_flags, tmp_path, capsys):
    from IExplainLib.phantoms import write_dataset

    dataset = write_dataset(tmp_path / "nifti", [tiny_study], layout="nifti")
    code, _, stderr = run(["pseudo-label", dataset, "-o", tmp_path / "out", "--classifier", classifier_file,
                           "--dicom-seg", *fast_flags], capsys)
    assert code == 2 and "--dicom-seg needs every case as a DICOM series" in stderr
    assert len(stderr.strip().splitlines()) == 1
