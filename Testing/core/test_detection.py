"""``write_detection``: every file of a Detection, any subset of them, atomically; an existing file is refused
(and kept) without overwrite. Findings rows name the map's peak after the method."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicerio

from IExplainLib.detection import Detection, describe_study_findings, findings_document, write_detection
from IExplainLib.errors import IExplainError
from IExplainLib.io import read_volume
from IExplainLib.volume import Volume


def _detection(method: str) -> Detection:
    labelmap = np.zeros((4, 16, 16), np.uint8)
    labelmap[1:3, 2:5, 2:5] = 1
    labelmap[2, 10:12, 10:13] = 2 if method == "iexplain" else 1
    volume = Volume(labelmap, spacing=(0.8, 0.8, 2.0))
    heat = volume.with_array(np.linspace(0, 1, labelmap.size, dtype=np.float32).reshape(labelmap.shape))
    peak = "peak_attribution" if method == "iexplain" else "peak_probability"
    rows = describe_study_findings(labelmap, volume, heat.array, peak_name=peak)
    return Detection(volume, heat, int(labelmap.max()), rows, {"voxels": int((labelmap > 0).sum())}, method=method)


@pytest.mark.parametrize("method", ["iexplain", "segmenter"])
def test_every_file_written_and_readable(method, tmp_path):
    detection = _detection(method)
    paths = {"segmentation": tmp_path / "r.seg.nrrd", "heat": tmp_path / "h.nrrd", "label": tmp_path / "l.nii.gz",
             "findings": tmp_path / "r.findings.json"}
    document = findings_document(detection, "ct.nrrd", "model.safetensors")
    write_detection(detection, **paths, document=document)
    segments = slicerio.read_segmentation(str(paths["segmentation"]))["segments"]
    expected = ["PE iteration 1", "PE iteration 2"] if method == "iexplain" else ["PE (segmenter)"]
    assert [s["name"] for s in segments] == expected
    assert np.array_equal(read_volume(paths["heat"]).array, detection.heat.array)
    assert set(np.unique(read_volume(paths["label"]).array)) == {0, 1}
    written = json.loads(paths["findings"].read_text())
    assert written["method"] == method and len(written["findings"]) == 2
    peak = "peak_attribution" if method == "iexplain" else "peak_probability"
    assert all(row[peak] > 0 for row in written["findings"])


def test_only_the_files_named_and_nothing_overwritten_without_overwrite(tmp_path):
    detection = _detection("iexplain")
    segmentation = tmp_path / "r.seg.nrrd"
    write_detection(detection, segmentation=segmentation)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.seg.nrrd"]
    before = segmentation.read_bytes()
    with pytest.raises(IExplainError):
        write_detection(detection, segmentation=segmentation)
    assert segmentation.read_bytes() == before
    write_detection(detection, segmentation=segmentation, overwrite=True)


def test_a_findings_file_needs_its_document_and_a_dicom_seg_its_series(tmp_path):
    detection = _detection("segmenter")
    with pytest.raises(ValueError, match="document"):
        write_detection(detection, findings=tmp_path / "f.json")
    with pytest.raises(ValueError, match="source series"):
        write_detection(detection, dicom_seg=tmp_path / "s.dcm")
    assert not any(tmp_path.iterdir())
