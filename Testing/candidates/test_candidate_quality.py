"""``iexplain quality --methods candidates``: FROC points, per-calibre sensitivity, false findings per negative study
and seconds per study on the (quick) held-out sets, with the FROC plot; the CT's own warning on the no-contrast CT."""

from __future__ import annotations

import json

import pytest

from IExplainLib.cli.main import main


def test_quality_scores_the_candidate_detector_set_by_set(reducer_file, tmp_path, capsys, real_ct):
    report_path, png = tmp_path / "q.json", tmp_path / "froc.png"
    code = main(["quality", "--quick", "--methods", "candidates", "--reducer", str(reducer_file), "--json",
                 str(report_path), "--froc-png", str(png), "--real-ct", str(real_ct), "--progress", "quiet"])
    assert code == 0
    report = json.loads(report_path.read_text())
    sets = report["candidates"]["sets"]
    assert set(sets) == {"synthetic", "real-anatomy", "negative", "no-contrast"}
    synthetic = sets["synthetic"]
    assert set(synthetic["froc"]) == {"0.5", "1", "2", "4", "8"}
    assert synthetic["negative_studies"] == 1 and synthetic["fp_per_negative_study"] is not None
    assert synthetic["seconds_per_study"] > 0
    assert sum(v["emboli"] for v in synthetic["by_calibre"].values()) == synthetic["true_pes"]
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "Candidates + false-positive reducer" in capsys.readouterr().out


def test_methods_are_checked(reducer_file, capsys):
    assert main(["quality", "--quick", "--methods", "segmenter", "--progress", "quiet"]) == 2
    assert "scored together" in capsys.readouterr().err
    assert main(["quality", "--quick", "--methods", "iexplain,segmenter", "--froc-png", "x.png"]) == 2
    assert "add candidates" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["--methods=", "--methods=boxes"])
def test_unknown_methods_are_refused(bad, capsys):
    assert main(["quality", "--quick", bad]) == 2
    assert "--methods takes names" in capsys.readouterr().err


def test_the_real_ct_without_contrast_has_no_candidate(reducer_file, popi_folder):
    from IExplainLib.candidates.detector import CandidateDetector
    from IExplainLib.io import read_volume

    detection = CandidateDetector(reducer_file, threshold=0.0).explain(read_volume(popi_folder))
    assert detection.findings == [] and detection.summary["candidates"] == 0
    assert not detection.labelmap.array.any()


def test_the_report_shows_a_threshold_near_1_as_it_is():
    from IExplainLib.evaluation.candidate_quality import candidates_markdown

    # a reducer's threshold crowds near 1 (the bundled one's is 0.9998): three significant digits read "1"
    text = "\n".join(candidates_markdown({"model": {"path": "r.safetensors", "sha256": "ab" * 32, "threshold": 0.9998},
                                           "sets": {}}))
    assert "shipped score threshold 0.9998." in text
