"""``iexplain pseudo-label``: the output layout, resuming, sharding, and dataset.json for the segmenter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.errors import InputError
from IExplainLib.explain.params import ExplainParams
from IExplainLib.explain.pseudo_label import parse_shard, pseudo_label_dataset
from IExplainLib.io import read_volume


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from IExplainLib.phantoms import make_study, write_dataset

    root = tmp_path_factory.mktemp("data") / "phantoms"
    studies = (make_study(seed=20 + k, slices=9, size=40, n_emboli=1) for k in range(3))
    return write_dataset(root, studies, layout="nifti")


FAST = ExplainParams(n_steps=2, references=["zero"], smoothgrad_samples=1, max_iterations=2, high_threshold=3.0)


def test_shards_split_cases_and_rerun_skips_finished(dataset, classifier_file, fast_flags, tmp_path, capsys):
    out = tmp_path / "pseudo"
    args = ["pseudo-label", dataset, "-o", out, "--classifier", classifier_file, *fast_flags]
    assert main([str(a) for a in args + ["--shard", "0/2"]]) == 0
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["case-000.nii.gz", "case-002.nii.gz"]
    assert len(json.loads((out / "dataset.json").read_text())["cases"]) == 2
    assert main([str(a) for a in args + ["--shard", "1/2"]]) == 0
    capsys.readouterr()

    document = json.loads((out / "dataset.json").read_text())
    assert document["format"] == "iexplain-dataset" and document["version"] == 1
    assert [c["id"] for c in document["cases"]] == ["case-000", "case-001", "case-002"]
    for case in document["cases"]:
        image = Path(case["image"])
        assert image.is_absolute() and image == (dataset / "images" / f"{case['id']}.nii.gz").resolve()
        assert case["label"] == f"labels/{case['id']}.nii.gz"
        assert case["provenance"]["classifier"] == str(classifier_file.resolve())
        assert case["provenance"]["params"]["n_steps"] == 2
        ct, label = read_volume(image), read_volume(out / case["label"])
        assert label.same_grid(ct) and label.array.dtype == np.uint8 and set(np.unique(label.array)) <= {0, 1}
        for folder, ending in (("segmentations", ".seg.nrrd"), ("heatmaps", ".nrrd"), ("findings", ".json")):
            assert (out / folder / f"{case['id']}{ending}").is_file()
    assert not list(out.rglob(".partial-*"))

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "dataset.json"}
    report = pseudo_label_dataset(dataset, out, classifier_file, FAST, (0, 1), "cpu")
    assert sorted(report.skipped) == ["case-000", "case-001", "case-002"] and not report.done
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing rewritten

    findings = json.loads((out / "findings" / "case-001.json").read_text())  # the study step's document, as detect's
    assert findings["case"] == "case-001" and findings["method"] == "iexplain"
    assert findings["contrast"]["is_angiogram"] is not False and findings["warnings"] == []
    assert findings["preset"]["chosen_by"] == "device cpu" and findings["params"]["n_steps"] == 2


def test_an_unfinished_case_is_redone(dataset, classifier_file, tmp_path):
    out = tmp_path / "pseudo"
    first = pseudo_label_dataset(dataset, out, classifier_file, FAST, (0, 3), "cpu")
    assert first.done == ["case-000"]
    (out / "findings" / "case-000.json").unlink()  # as if killed before the case was complete
    again = pseudo_label_dataset(dataset, out, classifier_file, FAST, (0, 3), "cpu")
    assert again.done == ["case-000"] and not again.skipped
    assert json.loads((out / "dataset.json").read_text())["cases"][0]["id"] == "case-000"


def test_torchrun_without_a_shard_labels_this_rank_s_cases(dataset, classifier_file, tmp_path, monkeypatch):
    from IExplainLib.explain.pseudo_label import rank_device

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    report = pseudo_label_dataset(dataset, tmp_path / "pseudo", classifier_file, FAST, None, "cpu")
    assert report.shard == (1, 3) and report.done == ["case-001"]
    assert rank_device("cpu") == "cpu"  # a device chosen by the user is kept
    import torch

    expected = f"cuda:{1 % max(1, torch.cuda.device_count())}" if torch.cuda.is_available() else "auto"
    assert rank_device("auto") == expected


def test_shard_comes_from_flag_or_torchrun(monkeypatch):
    assert parse_shard("2/5") == (2, 5)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parse_shard(None) == (1, 4)
    for bad in ("3/2", "x", "1/0"):
        with pytest.raises(InputError):
            parse_shard(bad)


def test_missing_dataset_is_one_line(tmp_path, classifier_file, capsys):
    code = main(["pseudo-label", str(tmp_path / "none"), "-o", str(tmp_path / "o"), "--classifier",
                 str(classifier_file)])
    stderr = capsys.readouterr().err
    assert code == 2 and "not found" in stderr and len(stderr.strip().splitlines()) == 1
