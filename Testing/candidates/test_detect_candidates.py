"""``iexplain detect --method candidates``: one segment per kept finding, named with its calibre and score; the
findings file; the threshold; refusals and the not-a-CT-angiogram case."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicerio

from IExplainLib.cli.main import main
from IExplainLib.io import write_volume


@pytest.fixture(scope="module")
def ct_file(positive_study, tmp_path_factory):
    path = tmp_path_factory.mktemp("ct") / "study.nrrd"
    write_volume(path, positive_study.volume)
    return path


def _detect(*args):
    return main(["detect", *map(str, args), "--method", "candidates", "--progress", "quiet"])


def test_every_kept_candidate_is_a_named_segment_with_its_findings_row(ct_file, reducer_file, tmp_path):
    out = tmp_path / "pe.seg.nrrd"
    scores = tmp_path / "scores.nrrd"
    assert _detect(ct_file, "-o", out, "--reducer", reducer_file, "--scores", scores) == 0
    document = json.loads((tmp_path / "pe.findings.json").read_text())
    assert document["method"] == "candidates"
    rows = document["findings"]
    assert rows and rows == sorted(rows, key=lambda r: -r["score"])
    assert {"score", "calibre", "volume_mm3", "centroid_lps_mm", "contrast_hu"} <= set(rows[0])
    segmentation = slicerio.read_segmentation(str(out))
    names = [segment["name"] for segment in segmentation["segments"]]
    assert names[0] == f"PE 1 ({rows[0]['calibre']}, {rows[0]['score']:.4f})"
    assert len(names) == len(rows) == document["summary"]["kept"]


def test_the_threshold_hides_findings_and_an_empty_result_is_a_valid_segmentation(ct_file, reducer_file, tmp_path):
    out = tmp_path / "none.seg.nrrd"
    assert _detect(ct_file, "-o", out, "--reducer", reducer_file, "--score-threshold", "1") == 0
    document = json.loads((tmp_path / "none.findings.json").read_text())
    assert document["findings"] == [] and document["summary"]["candidates"] > 0
    segmentation = slicerio.read_segmentation(str(out))
    assert not np.asarray(segmentation["voxels"]).any()


def test_a_ct_without_contrast_is_warned_and_gives_no_finding(positive_study, reducer_file, tmp_path, capsys):
    hu = np.asarray(positive_study.volume.array).copy()
    hu[hu > 150] = 40
    ct = tmp_path / "plain.nrrd"
    write_volume(ct, positive_study.volume.with_array(hu))
    assert _detect(ct, "-o", tmp_path / "plain.seg.nrrd", "--reducer", reducer_file) == 0
    assert "does not look like a CT angiogram" in capsys.readouterr().err
    document = json.loads((tmp_path / "plain.findings.json").read_text())
    assert document["findings"] == [] and document["warnings"]


def test_a_model_of_another_kind_and_wrong_flags_are_refused(ct_file, reducer_file, tmp_path, capsys):
    from IExplainLib.modelfile import bundled_model

    assert _detect(ct_file, "-o", tmp_path / "x.seg.nrrd", "--reducer", bundled_model("demo-segmenter")) == 2
    assert "a reducer is needed here" in capsys.readouterr().err
    assert _detect(ct_file, "-o", tmp_path / "y.seg.nrrd", "--reducer", reducer_file, "--heatmap",
                   tmp_path / "h.nrrd") == 2
    assert "--heatmap belongs to --method iexplain" in capsys.readouterr().err
    assert not (tmp_path / "x.seg.nrrd").exists() and not (tmp_path / "y.seg.nrrd").exists()


def test_the_detector_finds_candidates_by_the_rule_its_reducer_was_trained_on(positive_study, reducer_file,
                                                                                tmp_path, ct_file, capsys):
    import shutil

    from IExplainLib.candidates import CandidateDetector, find_candidates
    from IExplainLib.candidates.proposals import DEFAULT_RULE, SESSION17_RULE

    assert CandidateDetector(reducer_file).rule == DEFAULT_RULE  # trained now: the card records the default rule
    copy = tmp_path / "older.safetensors"
    shutil.copy(reducer_file, copy)
    card = json.loads(reducer_file.with_suffix(".json").read_text())
    del card["candidates"]["rule"]  # a card from before the rule was recorded
    copy.with_suffix(".json").write_text(json.dumps(card))
    older = CandidateDetector(copy)
    assert older.rule == SESSION17_RULE
    candidates, scores = older.score(positive_study.volume)
    assert len(candidates) == len(scores) == len(find_candidates(positive_study.volume, rule=SESSION17_RULE))
    card["candidates"]["rule"] = {"max_mean_hu": "dense"}
    copy.with_suffix(".json").write_text(json.dumps(card))
    assert _detect(ct_file, "-o", tmp_path / "z.seg.nrrd", "--reducer", copy) == 2
    assert "model card field 'candidates.rule': 'max_mean_hu' must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "z.seg.nrrd").exists()
