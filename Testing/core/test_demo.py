"""``iexplain demo`` end to end on a small phantom with the bundled models (the command a new user runs first)."""

import json

import numpy as np

from IExplainLib.cli.main import main


def test_demo_writes_every_result_on_the_ct_grid_and_scores_against_truth(tmp_path, capsys):
    import slicerio

    from IExplainLib.io import read_volume

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--slices", "16", "--size", "128", "--device", "cpu",
                 "--progress", "quiet"]) == 0
    printed = capsys.readouterr().out
    assert "iExplain" in printed and "candidates (" in printed
    ct = read_volume(out / "ct.nrrd")
    for name in ("iexplain-heatmap.nrrd", "segmenter-probability.nrrd", "candidate-scores.nrrd", "truth.nii.gz"):
        assert read_volume(out / name).same_grid(ct, tolerance=1e-3)
    segmentation = slicerio.read_segmentation(str(out / "iexplain.seg.nrrd"))
    np.testing.assert_allclose(segmentation["ijkToLPS"], ct.ijk_to_lps(), atol=1e-6)
    assert all(s["name"].startswith("PE iteration ") for s in segmentation["segments"])
    metrics = json.loads((out / "metrics.json").read_text())
    truth = read_volume(out / "truth.nii.gz").array
    for method in ("iexplain", "segmenter", "candidates"):
        block = metrics[method]
        assert block["tp"] + block["fn"] == len(np.unique(truth[truth > 0]))  # every true embolus counted once
    assert (out / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from IExplainLib.demo import DEMO_FILES
    assert sorted(p.name for p in out.iterdir()) == sorted(DEMO_FILES.values())  # every file the summary lists
    for method in ("iexplain", "segmenter", "candidates"):
        findings = json.loads((out / f"{method}.findings.json").read_text())
        assert findings["method"] == method and findings["format"] == "iexplain-findings"


def test_demo_refuses_an_existing_folder_and_leaves_it_alone(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(out), "--progress", "quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me"
