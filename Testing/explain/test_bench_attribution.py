"""``iexplain bench --only attribution``: engine and Captum loop timed on the same work, results equal, device named."""

import json

import pytest
import torch

from IExplainLib.cli.main import main


def test_attribution_bench_reports_ratio_ceilings_and_agreement(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--only", "attribution", "--quick", "--device", "cpu", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["attribution"]
    assert figures["device"] == "cpu"
    assert figures["max_relative_difference"] < 1e-4
    assert figures["forward_backward_passes"] == 2 * 2 * 2 * 8
    assert figures["speedup_vs_captum_loop"] > 0 and figures["network_forward_ms_per_row"] > 0
    # no exact engine can beat the forward pass: that ceiling is above the batching-only one
    assert figures["speedup_ceiling_if_backward_were_free"] > figures["speedup_ceiling_batching_only"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is what a machine without a GPU must answer")
def test_attribution_bench_refuses_a_missing_gpu_in_one_line(capsys):
    assert main(["bench", "--only", "attribution", "--quick", "--device", "cuda"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no CUDA GPU" in error[0]
