"""``iexplain bench --only detect-candidates``: the candidate detector with the bundled reducer in a subprocess,
timed, with its peak memory."""

from __future__ import annotations

import json

from IExplainLib.cli.main import main


def test_bench_times_the_candidate_detector_in_its_own_process(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--only", "detect-candidates", "--quick", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["detect-candidates"]
    assert figures["study_shape_zyx"] == [16, 96, 96]
    assert figures["reducer"] == "demo-reducer.safetensors"
    assert 0 < figures["seconds"] and 0 < figures["peak_rss_gb"] < figures["target_peak_gb"] * 4
    assert figures["candidates"] >= figures["findings"] >= 0
    assert "== detect-candidates" in capsys.readouterr().out
