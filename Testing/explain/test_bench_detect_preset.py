"""``iexplain bench --only detect-cpu-preset``: detect with the fast preset in a subprocess, timed, peak memory."""

from __future__ import annotations

import json

from IExplainLib.cli.main import main


def test_quick_detect_preset_benchmark_reports_time_and_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--only", "detect-cpu-preset", "--quick", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["detect-cpu-preset"]
    assert figures["study_shape_zyx"] == [12, 64, 64] and figures["preset"] == "fast" and figures["threads"] == 2
    assert figures["preset_settings"] == {"n_steps": 8, "references": ["zero", "blur"], "smoothgrad_samples": 2}
    assert figures["seconds"] > 0 and 0.05 < figures["peak_rss_gb"] < figures["target_peak_gb"]
    assert figures["classifier"] == "demo-classifier.safetensors"
    assert "== detect-cpu-preset" in capsys.readouterr().out
