"""``iexplain evaluate`` on real files: .seg.nrrd predictions against NIfTI truths, single and pooled."""

import json

import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.io import read_segmentation, write_labelmap, write_segmentation
from IExplainLib.volume import Volume

SPACING = (0.7, 0.7, 2.5)
ORIGIN = (-120.0, -110.0, -300.0)


def grid(array):
    return Volume(array, SPACING, ORIGIN, np.eye(3))


def truth_and_prediction():
    truth = np.zeros((8, 24, 24), dtype=np.uint8)
    truth[2:4, 3:6, 3:6] = 1      # found in iteration 1
    truth[2:4, 3:6, 6:9] = 2      # touches 1, own instance: found in iteration 2
    truth[6, 18:21, 18:21] = 3    # missed
    iterations = np.zeros_like(truth)
    iterations[3, 4, 4] = 1
    iterations[2, 4, 7:9] = 2
    iterations[6, 2:4, 20:22] = 2  # false positive
    return truth, iterations


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_single_case_json(tmp_path, capsys):
    truth, iterations = truth_and_prediction()
    write_labelmap(tmp_path / "truth.nii.gz", grid(truth))
    write_segmentation(tmp_path / "pred.seg.nrrd", grid(iterations))
    assert read_segmentation(tmp_path / "pred.seg.nrrd")[0].same_grid(grid(truth))
    code, out, _ = run_cli(capsys, "evaluate", str(tmp_path / "pred.seg.nrrd"), str(tmp_path / "truth.nii.gz"),
                           "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["pooled"]["tp"], report["pooled"]["fp"], report["pooled"]["fn"]) == (2, 1, 1)
    assert report["pooled"]["f1"] == pytest.approx(4 / 6)
    assert report["slices"] is None
    # the same voxels read as connected components: instances 1 and 2 merge into one PE
    code, out, _ = run_cli(capsys, "evaluate", str(tmp_path / "pred.seg.nrrd"), str(tmp_path / "truth.nii.gz"),
                           "--json", "--truth-reading", "components")
    assert (json.loads(out)["pooled"]["tp"], json.loads(out)["pooled"]["fn"]) == (1, 1)


def test_folders_are_paired_by_case_and_pooled_with_slice_metrics(tmp_path, capsys):
    truth, iterations = truth_and_prediction()
    (tmp_path / "pred").mkdir()
    (tmp_path / "truth").mkdir()
    (tmp_path / "scores").mkdir()
    (tmp_path / "labels").mkdir()
    write_labelmap(tmp_path / "truth" / "case-a.nii.gz", grid(truth))
    write_segmentation(tmp_path / "pred" / "case-a.seg.nrrd", grid(iterations))
    write_labelmap(tmp_path / "truth" / "case-b.nrrd", grid(np.zeros_like(truth)))  # negative study
    write_segmentation(tmp_path / "pred" / "case-b.seg.nrrd", grid(np.zeros_like(truth)))
    for case, scores, labels in (("case-a", [0.9, 0.2], [1, 0]), ("case-b", [0.6, 0.1], [0, 0])):
        (tmp_path / "scores" / f"{case}.csv").write_text(
            "slice_index,probability\n" + "".join(f"{i},{s}\n" for i, s in enumerate(scores)))
        (tmp_path / "labels" / f"{case}.csv").write_text(
            "slice_index,pe_present\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    out_file = tmp_path / "report.json"
    code, out, _ = run_cli(capsys, "evaluate", str(tmp_path / "pred"), str(tmp_path / "truth"),
                           "--slice-scores", str(tmp_path / "scores"), "--slice-labels", str(tmp_path / "labels"),
                           "-o", str(out_file), "--progress", "quiet")
    assert code == 0
    assert "pooled" in out and "case-b" in out and "AUROC" in out
    report = json.loads(out_file.read_text())
    assert [row["case"] for row in report["cases"]] == ["case-a", "case-b"]
    assert report["cases"][1]["f1"] is None  # nothing to find, nothing found
    assert (report["pooled"]["tp"], report["pooled"]["fp"], report["pooled"]["fn"]) == (2, 1, 1)
    assert report["slices"]["auroc"] == pytest.approx(1.0)
    assert (report["slices"]["tp"], report["slices"]["fp"]) == (1, 1)
    # the report is not overwritten without --overwrite
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path / "pred"), str(tmp_path / "truth"), "-o", str(out_file))
    assert code == 2 and "already exists" in err


def test_mismatched_geometry_and_missing_cases_are_refused_in_one_line(tmp_path, capsys):
    truth, iterations = truth_and_prediction()
    write_labelmap(tmp_path / "truth.nii.gz", grid(truth))
    shifted = Volume(iterations, SPACING, (-119.0, -110.0, -300.0), np.eye(3))
    write_segmentation(tmp_path / "pred.seg.nrrd", shifted)
    code, out, err = run_cli(capsys, "evaluate", str(tmp_path / "pred.seg.nrrd"), str(tmp_path / "truth.nii.gz"))
    assert code == 2 and out == ""
    assert "geometry mismatch" in err and len(err.strip().splitlines()) == 1
    write_segmentation(tmp_path / "small.seg.nrrd", Volume(iterations[:4], SPACING, ORIGIN, np.eye(3)))
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path / "small.seg.nrrd"), str(tmp_path / "truth.nii.gz"))
    assert code == 2 and "voxels" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "preds").mkdir()
    (tmp_path / "truths").mkdir()
    write_labelmap(tmp_path / "truths" / "case-x.nii.gz", grid(truth))
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path / "preds"), str(tmp_path / "truths"))
    assert code == 2 and "no mask files" in err
    write_segmentation(tmp_path / "preds" / "case-y.seg.nrrd", grid(iterations))
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path / "preds"), str(tmp_path / "truths"))
    assert code == 2 and "no prediction for 1 truth case(s)" in err and "case-x" in err


def test_truth_dataset_json_pairs_by_case_id_and_supplies_slice_labels(tmp_path, capsys):
    truth, iterations = truth_and_prediction()
    dataset = tmp_path / "dataset"
    for folder in ("images", "labels", "slice_labels"):
        (dataset / folder).mkdir(parents=True)
    write_labelmap(dataset / "images" / "case-000.nii.gz", grid(np.zeros_like(truth)))
    write_labelmap(dataset / "labels" / "case-000.nii.gz", grid(truth))
    (dataset / "slice_labels" / "case-000.csv").write_text(
        "slice_index,pe_present\n" + "".join(f"{z},{int(truth[z].any())}\n" for z in range(truth.shape[0])))
    (dataset / "dataset.json").write_text(json.dumps({
        "format": "iexplain-dataset", "version": 1,
        "cases": [{"id": "case-000", "image": "images/case-000.nii.gz", "label": "labels/case-000.nii.gz",
                   "slice_labels": "slice_labels/case-000.csv"}]}))
    (tmp_path / "pred").mkdir()
    write_segmentation(tmp_path / "pred" / "case-000.seg.nrrd", grid(iterations))
    (tmp_path / "scores").mkdir()
    scores = [0.9 if truth[z].any() else 0.1 for z in range(truth.shape[0])]
    (tmp_path / "scores" / "case-000.csv").write_text(
        "slice_index,probability\n" + "".join(f"{z},{s}\n" for z, s in enumerate(scores)))
    code, out, _ = run_cli(capsys, "evaluate", str(tmp_path / "pred"), str(dataset / "dataset.json"), "--json",
                           "--slice-scores", str(tmp_path / "scores"))
    assert code == 0
    report = json.loads(out)
    assert report["cases"][0]["case"] == "case-000" and report["pooled"]["tp"] == 2
    assert report["slices"]["auroc"] == 1.0 and report["slices"]["positives"] == 3
