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


def test_named_backbone_settings_time_a_batch_of_windows_and_count_flops():
    from IExplainLib.benchmarks.attribution import AttributionSettings, flop_per_pass, run

    settings = AttributionSettings(1, ("zero", "blur"), 1, 4, 1, batch_size=8, backbone="iexplain_efficientnetv2_tiny",
                                   input_size=32, batch_windows=2)
    figures = run(device="cpu", settings=settings)
    assert figures["model"].startswith("iexplain_efficientnetv2_tiny") and figures["input"] == "7x32x32"
    assert figures["forward_backward_passes"] == 1 * 2 * 1 * 4
    assert figures["flop_per_pass"] > 0 and figures["engine_tflops"] > 0 and figures["bf16_peak_tflops"] is None
    assert figures["batch_windows"] == 2 and figures["batch_engine_fp32_seconds"] > 0
    assert figures["study_300_all_positive_fp32_seconds_estimated"] > 0
    assert "batch_engine_bf16_seconds" not in figures  # bf16 batch figures are a GPU's; its agreement is measured
    assert figures["bf16_vs_fp32"]["heat_pearson"] > 0.99  # everywhere (test_bench_deadlines.py)
    # a forward + input-gradient pass of a conv net costs about 2-3 forward passes: the count says so
    from IExplainLib.classifier import ClassifierSpec, build_classifier

    model = build_classifier(ClassifierSpec(input_size=32)).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    forward = torch.utils.flop_counter.FlopCounterMode(display=False)
    example = torch.rand(1, 7, 32, 32)
    with forward:
        model(example)
    assert 1.5 * forward.get_total_flops() < flop_per_pass(model, example) < 3.5 * forward.get_total_flops()
