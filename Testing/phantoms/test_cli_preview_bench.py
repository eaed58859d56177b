"""``iexplain synth`` end to end, the PNG previews and the phantom benchmark."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest

from IExplainLib import OutputExistsError
from IExplainLib.cli.main import main
from IExplainLib.datasets import open_dataset
from IExplainLib.phantoms import make_study, write_preview


def test_synth_rspect_with_preview(tmp_path, capsys):
    out = tmp_path / "synth"
    code = main(["synth", str(out), "--studies", "2", "--seed", "7", "--slices", "16", "--size", "64",
                 "--emboli", "2", "--negative-fraction", "0", "--preview", "--progress", "json"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["stage"] == "done"
    cases = open_dataset(out)
    assert len(cases) == 2 and (out / "train.csv").is_file() and (out / "boxes.csv").is_file()
    assert [c.provenance["seed"] for c in cases] == [7, 8]
    assert all(len(c.provenance["emboli"]) == 2 for c in cases)
    again = make_study(7, slices=16, size=64, n_emboli=2, negative=False)
    assert cases[0].id == again.study_uid  # the CLI's study i is make_study(seed + i)
    assert np.array_equal(cases[0].load_image().array, again.volume.array)
    assert len(list((out / "preview").glob("*.png"))) == 2


def test_synth_refuses_existing_output_and_bad_input(tmp_path, capsys):
    out = tmp_path / "exists"
    out.mkdir()
    assert main(["synth", str(out), "--studies", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "x"), "--studies", "1", "--negative-fraction", "2"]) == 2
    err = capsys.readouterr().err
    assert "negative-fraction" in err and len(err.strip().splitlines()) == 1
    assert main(["synth", str(tmp_path / "y"), "--anatomy", str(tmp_path / "missing.nii.gz")]) == 2


def test_preview_png_outlines_truth(tmp_path):
    study = make_study(3, slices=24, size=96, n_emboli=2, negative=False)
    path = write_preview(study, tmp_path / "p.png", count=4)
    picture = matplotlib.image.imread(path)
    assert picture.ndim == 3 and picture.shape[0] > 200 and picture.shape[1] > 400
    with pytest.raises(OutputExistsError):
        write_preview(study, path)


def test_benchmark_quick_reports_figures():
    from IExplainLib.benchmarks.phantoms import run

    figures = run(quick=True)
    assert figures["study_shape_zyx"] == [60, 256, 256]
    assert 0 < figures["study_seconds"] < 60
    assert figures["vessels_speedup"] > 1
