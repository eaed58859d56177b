"""``iexplain detect`` end to end on a tiny phantom: files Slicer reads, in the CT's geometry; one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicerio

from IExplainLib.cli.main import main
from IExplainLib.io import read_volume, write_volume


@pytest.fixture(scope="module")
def ct_file(tiny_study, tmp_path_factory):
    path = tmp_path_factory.mktemp("ct") / "study.nrrd"
    write_volume(path, tiny_study.volume)
    return path


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_detect_writes_per_iteration_segments_heat_map_and_findings(ct_file, classifier_file, fast_flags,
                                                                   tmp_path, capsys):
    out = tmp_path / "result.seg.nrrd"
    heat = tmp_path / "heat.nrrd"
    flags = [f for f in fast_flags if f != "quiet" and f != "--progress"] + ["--progress", "json", "--no-filter"]
    code, stdout, stderr = run_cli(["detect", ct_file, "-o", out, "--classifier", classifier_file,
                                    "--heatmap", heat, *flags], capsys)
    assert code == 0, stderr
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert events[-1]["stage"] == "done"
    assert any(e["stage"] == "explain" and "iteration" in e and "slice" in e for e in events)

    ct = read_volume(ct_file)
    segmentation = slicerio.read_segmentation(str(out))
    assert np.allclose(segmentation["ijkToLPS"], ct.ijk_to_lps(), atol=1e-4)
    assert segmentation["voxels"].shape == ct.size_xyz
    names = [s["name"] for s in segmentation["segments"]]
    assert names == ["PE iteration 1", "PE iteration 2"]  # threshold 0: every window ran both iterations
    assert all(s["terminology"]["type"][1] == "55584005" for s in segmentation["segments"])
    labels = np.unique(segmentation["voxels"])
    assert 1 in labels

    heat_map = read_volume(heat)
    assert heat_map.same_grid(ct) and heat_map.array.dtype == np.float32 and heat_map.array.max() > 0

    findings = json.loads((tmp_path / "result.findings.json").read_text())
    assert findings["format"] == "iexplain-findings" and findings["iterations"] == 2
    assert findings["params"]["n_steps"] == 2 and findings["params"]["filter"] is False
    rows = findings["findings"]
    assert rows and sum(r["voxels"] for r in rows) == int((segmentation["voxels"] > 0).sum())
    first = rows[0]
    assert first["iteration"] == 1 and first["volume_mm3"] == pytest.approx(first["voxels"] * np.prod(ct.spacing),
                                                                            rel=1e-3)
    assert 0 <= first["slice_range"][0] <= first["slice_range"][1] < ct.shape[0]
    assert first["peak_attribution"] > 0

    # a second run refuses to replace the outputs, in one line
    code, _, stderr = run_cli(["detect", ct_file, "-o", out, "--classifier", classifier_file, *fast_flags], capsys)
    assert code == 2 and "already exists" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run_cli(["detect", ct_file, "-o", out, "--classifier", classifier_file, "--overwrite",
                               "--high-threshold", "1000", *fast_flags[:-6]], capsys)
    assert code == 0, stderr
    assert not slicerio.read_segmentation(str(out))["voxels"].any()  # nothing reaches h = 1000


@pytest.mark.parametrize("case", ["missing CT", "missing model", "pickle model", "bad suffix", "bad params"])
def test_detect_refuses_bad_input_in_one_line(case, ct_file, classifier_file, fast_flags, tmp_path, capsys):
    out = tmp_path / "out.seg.nrrd"
    args = ["detect", ct_file, "-o", out, "--classifier", classifier_file, *fast_flags]
    if case == "missing CT":
        args[1] = tmp_path / "nowhere.nrrd"
        expected = "not found"
    elif case == "missing model":
        args[5] = tmp_path / "absent.safetensors"
        expected = "not found"
    elif case == "pickle model":
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
        (tmp_path / "bad.json").write_text((classifier_file.with_suffix(".json")).read_text())
        args[5] = bad
        expected = "pickle"
    elif case == "bad suffix":
        args[3] = tmp_path / "out.nii.gz"
        expected = ".seg.nrrd"
    else:
        args += ["--references", "zero,sunshine"]
        expected = "unknown references"
    code, _, stderr = run_cli(args, capsys)
    assert code == 2
    assert expected in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_detect_with_the_segmenter(ct_file, tmp_path, capsys):
    from IExplainLib.modelfile import save_model
    from IExplainLib.segmenter.spec import ARCHITECTURE, SegmenterSpec, build_network, portable_state_dict

    spec = SegmenterSpec(filters=(4, 8, 8), patch_size=(8, 16, 16), threshold=0.01)
    network = build_network(spec)
    model = tmp_path / "segmenter.safetensors"
    save_model(model, portable_state_dict(network), {"kind": "segmenter", "architecture": ARCHITECTURE,
                                                     "spec": spec.to_card()})
    out, probability = tmp_path / "seg.seg.nrrd", tmp_path / "p.nrrd"
    code, _, stderr = run_cli(["detect", ct_file, "-o", out, "--method", "segmenter", "--segmenter", model,
                               "--probability", probability, "--no-filter", "--device", "cpu",
                               "--progress", "quiet"], capsys)
    assert code == 0, stderr
    ct = read_volume(ct_file)
    segmentation = slicerio.read_segmentation(str(out))
    assert np.allclose(segmentation["ijkToLPS"], ct.ijk_to_lps(), atol=1e-4)
    assert [s["name"] for s in segmentation["segments"]] == ["PE (segmenter)"]
    assert read_volume(probability).same_grid(ct)
    document = json.loads((tmp_path / "seg.findings.json").read_text())
    assert document["method"] == "segmenter"

    # without --segmenter: the bundled demo segmenter, found the way the bundled classifier is
    from IExplainLib.cli.commands_explain import DEFAULT_SEGMENTER

    code, _, stderr = run_cli(["detect", ct_file, "-o", tmp_path / "x.seg.nrrd", "--method", "segmenter",
                               "--device", "cpu", "--progress", "quiet"], capsys)
    assert code == 0, stderr
    assert json.loads((tmp_path / "x.findings.json").read_text())["model"] == str(DEFAULT_SEGMENTER)
    code, _, stderr = run_cli(["detect", ct_file, "-o", tmp_path / "y.seg.nrrd", "--method", "segmenter",
                               "--preset", "fast"], capsys)
    assert code == 2 and "--preset" in stderr and len(stderr.strip().splitlines()) == 1


def test_detect_help_names_the_model_of_each_method(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "bundled demo-classifier" in text and "bundled demo-segmenter" in text
    assert "--preset {paper,fast}" in text and "--dicom-seg" in text
