"""``iexplain pseudo-label --method candidates``: the candidates the reducer keeps as each case's label, in the layout
``train-segmenter`` reads, with their provenance; wrong flag combinations refused."""

from __future__ import annotations

import json

import pytest

from IExplainLib.cli.main import main
from IExplainLib.io import read_volume


@pytest.fixture(scope="module")
def dataset(positive_study, negative_study, tmp_path_factory):
    from IExplainLib.phantoms import write_dataset

    return write_dataset(tmp_path_factory.mktemp("data") / "phantoms", [positive_study, negative_study],
                         layout="nifti")


def test_candidate_pseudo_labels_are_the_kept_candidates(dataset, reducer_file, positive_study, tmp_path):
    out = tmp_path / "pseudo"
    assert main(["pseudo-label", str(dataset), "-o", str(out), "--method", "candidates", "--reducer",
                 str(reducer_file), "--progress", "quiet"]) == 0
    index = json.loads((out / "dataset.json").read_text())
    assert len(index["cases"]) == 2
    assert {case["provenance"]["method"] for case in index["cases"]} == {"candidates"}
    assert index["cases"][0]["provenance"]["label_source"] == "candidates pseudo-label"
    for case in index["cases"]:
        findings = json.loads((out / case["findings"]).read_text())
        label = read_volume(out / case["label"]).array
        assert findings["method"] == "candidates"
        assert (label > 0).any() == bool(findings["findings"])
        if findings["findings"]:  # the label is the union of the kept candidates' voxels
            assert int((label > 0).sum()) == sum(row["voxels"] for row in findings["findings"])
    # a rerun skips both finished cases
    assert main(["pseudo-label", str(dataset), "-o", str(out), "--method", "candidates", "--reducer",
                 str(reducer_file), "--progress", "quiet"]) == 0


def test_flags_of_the_other_method_are_refused(dataset, reducer_file, tmp_path, capsys):
    assert main(["pseudo-label", str(dataset), "-o", str(tmp_path / "a"), "--method", "candidates",
                 "--classifier", "x.safetensors"]) == 2
    assert "belong to --method iexplain" in capsys.readouterr().err
    assert main(["pseudo-label", str(dataset), "-o", str(tmp_path / "b"), "--reducer", str(reducer_file)]) == 2
    assert "belong to --method candidates" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
