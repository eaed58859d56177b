"""``segmenter-report``: the Tables 4-5 analogue runs end to end on tiny phantoms and writes JSON + markdown."""

import json

import numpy as np
import pytest

from IExplainLib.cli.main import main

from .conftest import TINY_ARCH, tiny_study, write_dataset_json


def _pseudo_label_folder(root, train_root, studies):
    """A pseudo-label folder as ``iexplain pseudo-label`` writes it: labels/<id>.nii.gz and a dataset.json naming
    the source CT by absolute path. Each case misses its last embolus (a known pseudo-label error)."""
    from IExplainLib.io import write_volume

    (root / "labels").mkdir(parents=True)
    cases = []
    for case_id, study in studies.items():
        label = study.truth.copy()
        label[label == label.max()] = 0
        write_volume(root / "labels" / f"{case_id}.nii.gz", study.volume.with_array((label > 0).astype(np.uint8)))
        cases.append({"id": case_id, "image": str((train_root / "images" / f"{case_id}.nii.gz").resolve()),
                      "label": f"labels/{case_id}.nii.gz", "provenance": {"method": "test"}})
    (root / "dataset.json").write_text(json.dumps({"format": "iexplain-dataset", "version": 1, "cases": cases}))
    return root


@pytest.fixture(scope="module")
def report_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    train_studies = {f"train-{s}": tiny_study(s, emboli=3) for s in (10, 11)}
    train = write_dataset_json(root / "train", train_studies)
    pseudo = _pseudo_label_folder(root / "pseudo", train, train_studies)
    test = write_dataset_json(root / "test", {f"test-{s}": tiny_study(s) for s in (9010, 9011)})
    corrected = write_dataset_json(root / "corrected", {f"fix-{s}": tiny_study(s) for s in (20, 21)},
                                   provenance={"source": "phantom truth as corrected label"})
    return root, train, pseudo, test, corrected


def test_report_scores_pseudo_labels_segmenter_finetuned_and_scratch(report_inputs):
    root, train, pseudo, test, corrected = report_inputs
    out = root / "out"
    code = main(["segmenter-report", "--train", str(train), "--pseudo-labels", str(pseudo), "--test", str(test),
                 "--corrected", str(corrected), "--out", str(out), *TINY_ARCH, "--iterations", "3",
                 "--batch-size", "2", "--warmup", "1", "--finetune-iterations", "2", "--finetune-warmup", "0",
                 "--progress", "quiet"])
    assert code == 0
    report = json.loads((out / "segmenter-report.json").read_text())
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"pseudo", "wsl", "finetuned", "scratch"}
    pseudo_metrics = rows["pseudo"]["metrics"]
    # each training case has 3 emboli and its pseudo-label misses one of them, and adds nothing
    assert (pseudo_metrics["tp"], pseudo_metrics["fn"], pseudo_metrics["fp"]) == (4, 2, 0)
    assert pseudo_metrics["f1"] == pytest.approx(0.8)
    assert rows["wsl"]["metrics"]["cases"] == 2 and set(rows["wsl"]["metrics"]["per_case"]) == {"test-9010",
                                                                                                "test-9011"}
    assert report["schedules"]["finetune_and_scratch"]["iterations"] == 2
    assert len(report["claims"]) == 2
    table = (out / "segmenter-report.md").read_text()
    assert "| WSL segmenter |" in table and "random init" in table
    for name in ("wsl-segmenter", "finetuned-from-wsl", "random-init"):
        assert (out / f"{name}.safetensors").exists()
    card = json.loads((out / "finetuned-from-wsl.json").read_text())
    assert card["training"]["init"] == "pretrained" and card["training"]["data"]["cases"] == 2


def test_report_refuses_a_test_set_seen_in_training(report_inputs, capsys):
    root, train, pseudo, _, corrected = report_inputs
    code = main(["segmenter-report", "--train", str(train), "--pseudo-labels", str(pseudo), "--test", str(train),
                 "--corrected", str(corrected), "--out", str(root / "bad"), *TINY_ARCH, "--progress", "quiet"])
    assert code == 2
    assert "held-out" in capsys.readouterr().err
