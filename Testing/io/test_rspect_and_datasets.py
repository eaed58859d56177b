"""RSPECT layout (train.csv + <study>/<series>/<sop>.dcm), 2D boxes, and the dataset.json layout."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pydicom
import pytest

from IExplainLib.datasets import open_dataset
from IExplainLib.errors import InputError, UnsupportedInputError
from IExplainLib.io import (RSPECT_COLUMNS, boxes_to_mask, read_boxes_csv, read_boxes_mdai_json, read_rspect_labels,
                            read_volume, write_volume)
from IExplainLib.volume import Volume


@pytest.fixture
def rspect_root(tmp_path, real_ct):
    """The three dcmqi CT slices in RSPECT layout, with a train.csv whose rows are in a scrambled order."""
    root = tmp_path / "rspect"
    slices = [pydicom.dcmread(real_ct / "dcmqi_ct3slice_seg" / f"0{i}.dcm", stop_before_pixels=True)
              for i in (1, 2, 3)]
    study, series = str(slices[0].StudyInstanceUID), str(slices[0].SeriesInstanceUID)
    folder = root / study / series
    folder.mkdir(parents=True)
    for i, dataset in zip((1, 2, 3), slices):
        shutil.copy(real_ct / "dcmqi_ct3slice_seg" / f"0{i}.dcm", folder / f"{dataset.SOPInstanceUID}.dcm")
    by_position = sorted(slices, key=lambda d: float(d.ImagePositionPatient[2]))
    pe = {str(by_position[0].SOPInstanceUID): 0, str(by_position[1].SOPInstanceUID): 1,
          str(by_position[2].SOPInstanceUID): 1}
    with open(root / "train.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RSPECT_COLUMNS)
        for sop in [str(by_position[2].SOPInstanceUID), str(by_position[0].SOPInstanceUID),
                    str(by_position[1].SOPInstanceUID)]:
            writer.writerow([study, series, sop, pe[sop], 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0])
        writer.writerow(["other-study", "other-series", "other-sop"] + [0] * 14)
    return root, study, series, [str(d.SOPInstanceUID) for d in by_position]


def test_rspect_labels_follow_slice_position(rspect_root):
    root, study, series, sops_by_position = rspect_root
    volume = read_volume(root / study / series)
    assert volume.metadata["sop_instance_uids"] == sops_by_position
    from_volume = read_rspect_labels(root / "train.csv", volume)
    from_folder = read_rspect_labels(root / "train.csv", root / study / series)
    for labels in (from_volume, from_folder):
        assert labels.slice_labels.tolist() == [0, 1, 1]
        assert labels.sop_instance_uids == sops_by_position
        assert labels.exam_labels["rv_lv_ratio_gte_1"] == 1 and labels.exam_labels["central_pe"] == 1
        assert labels.exam_labels["negative_exam_for_pe"] == 0


def test_open_dataset_rspect(rspect_root):
    root, study, series, _ = rspect_root
    cases = open_dataset(root)
    assert cases.layout == "rspect" and len(cases) == 1
    case = cases[0]
    assert case.id == study and case.image == root / study / series and case.label is None
    assert case.slice_labels.tolist() == [0, 1, 1]
    assert case.exam_labels["leftsided_pe"] == 1
    assert cases.warnings == ["1 of 2 series in train.csv have no folder and were skipped"]


def test_rspect_table_problems_are_one_line_errors(rspect_root, tmp_path):
    root, study, series, _ = rspect_root
    bad = tmp_path / "bad.csv"
    bad.write_text("StudyInstanceUID,SeriesInstanceUID,SOPInstanceUID,pe_present_on_image\n")
    with pytest.raises(InputError, match="missing column.*negative_exam_for_pe"):
        read_rspect_labels(bad, root / study / series)
    rows = (root / "train.csv").read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows[:2]) + "\n")
    with pytest.raises(InputError, match="2 of 3 slices of series .* have no row"):
        read_rspect_labels(short, root / study / series)


def test_boxes_from_csv_and_mdai_json_become_slice_masks(rspect_root, tmp_path):
    root, study, series, sops = rspect_root
    volume = read_volume(root / study / series)
    boxes_csv = tmp_path / "boxes.csv"
    boxes_csv.write_text("study,series,image,left,top,w,h\n"
                         f"{study},{series},{sops[1]},10,20,5,3\n"
                         f"{study},{series},{sops[2]},500.5,508,40,40\n"
                         f"x,y,z,0,0,10,10\n")
    boxes = read_boxes_csv(boxes_csv, {"study": "study", "series": "series", "sop": "image", "x": "left",
                                       "y": "top", "width": "w", "height": "h"})
    mask = boxes_to_mask(volume, boxes)
    assert mask.shape == volume.shape and mask.dtype == np.uint8
    assert mask[0].sum() == 0
    assert mask[1].sum() == 15 and mask[1, 20:23, 10:15].all()
    assert mask[2, 508:, 500:].all() and mask[2].sum() == 4 * 12  # clipped at the 512 x 512 edge
    document = {"datasets": [{"annotations": [
        {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": sops[1],
         "data": {"x": 10, "y": 20, "width": 5, "height": 3}, "labelId": "L_pe"},
        {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": sops[0], "data": None,
         "labelId": "L_exam"}]}]}
    (tmp_path / "mdai.json").write_text(json.dumps(document))
    json_boxes = read_boxes_mdai_json(tmp_path / "mdai.json")
    assert len(json_boxes) == 1 and json_boxes[0].label == "L_pe"
    np.testing.assert_array_equal(boxes_to_mask(volume, json_boxes)[1], mask[1])
    with pytest.raises(InputError, match="missing box column"):
        read_boxes_csv(boxes_csv)
    (tmp_path / "wrong.json").write_text("{\"annotations\": []}")
    with pytest.raises(UnsupportedInputError, match="not an MD.ai export"):
        read_boxes_mdai_json(tmp_path / "wrong.json")


def test_open_dataset_json_layout(tmp_path):
    root = tmp_path / "ds"
    image = Volume(np.zeros((4, 5, 6), np.int16), (1.0, 1.0, 2.0))
    write_volume(root / "images" / "case-000.nii.gz", image)
    write_volume(root / "labels" / "case-000.nii.gz", image.with_array(np.ones((4, 5, 6), np.uint8)))
    (root / "slice_labels").mkdir()
    (root / "slice_labels" / "case-000.csv").write_text("slice_index,pe_present\n2,1\n0,0\n1,1\n3,0\n")
    write_volume(root / "images" / "case-001.nii.gz", image)
    manifest = {"format": "iexplain-dataset", "version": 1, "description": "test",
                "cases": [{"id": "case-000", "image": "images/case-000.nii.gz", "label": "labels/case-000.nii.gz",
                           "slice_labels": "slice_labels/case-000.csv", "provenance": {"seed": 1}},
                          {"id": "case-001", "image": "images/case-001.nii.gz"}]}
    (root / "dataset.json").write_text(json.dumps(manifest))
    cases = open_dataset(root)
    assert [c.id for c in cases] == ["case-000", "case-001"]
    assert cases[0].slice_labels.tolist() == [0, 1, 1, 0]
    assert cases[0].provenance == {"seed": 1}
    assert cases[0].load_label().array.sum() == 120
    assert cases[1].label is None and cases[1].slice_labels is None
    assert cases[1].load_image().shape == (4, 5, 6)
    assert [c.id for c in open_dataset(root / "dataset.json")] == ["case-000", "case-001"]

    manifest["cases"][1]["image"] = str((root / "images" / "case-001.nii.gz").resolve())  # absolute: allowed
    (root / "dataset.json").write_text(json.dumps(manifest))
    assert open_dataset(root)[1].image == (root / "images" / "case-001.nii.gz").resolve()
    manifest["cases"][1]["image"] = "images/missing.nii.gz"
    (root / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="case case-001 image .* not found"):
        open_dataset(root)
    (root / "dataset.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(UnsupportedInputError, match="format"):
        open_dataset(root)
    with pytest.raises(UnsupportedInputError, match="not a dataset"):
        open_dataset(tmp_path)
