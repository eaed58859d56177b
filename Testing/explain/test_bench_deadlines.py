"""The bench in parts (issue 25): a part that reaches its deadline stops at a window boundary and keeps what it
measured, a part out of memory is named while the others are kept, bf16 autocast is compared with the fp32 engine,
and the segmenter's measuring child is stopped at the deadline. Real tiny networks on the CPU; only the time and the
out-of-memory error are made deterministic."""

import itertools
import time

import pytest
import torch

from IExplainLib.benchmarks import attribution, segmenter
from IExplainLib.benchmarks.attribution import AttributionSettings
from IExplainLib.benchmarks.parts import TIME_SPENT

TINY = AttributionSettings(3, ("zero", "blur"), 1, 4, 1, batch_size=8, backbone="iexplain_efficientnetv2_tiny",
                           input_size=32)


@pytest.fixture(autouse=True)
def _single_thread(single_thread_torch):
    yield


def test_every_part_is_measured_and_bf16_agrees_with_the_fp32_engine():
    figures = attribution.run(device="cpu", settings=TINY, deadline=time.monotonic() + 600)
    assert figures["parts"] == {"done": ["memory", "compare", "bf16", "rates", "network", "study"]}
    assert "errors" not in figures and figures["compared_windows"] == 3
    assert figures["max_relative_difference"] < 1e-4
    agreement = figures["bf16_vs_fp32"]
    # bf16 keeps about 3 significant digits: the attributions differ a little, the heat maps hardly at all
    assert 0 < agreement["max_relative_difference"] < 0.1 and agreement["windows"] == 3
    assert agreement["heat_pearson"] > 0.99 and agreement["heat_pearson_lowest_window"] > 0.99
    assert agreement["heat_top_0.01_overlap"] > 0.8
    assert figures["max_relative_difference_bf16"] == agreement["max_relative_difference"]
    assert figures["engine_bf16_seconds"] > 0 and figures["engine_bf16_tflops"] > 0


def test_a_part_reaching_its_deadline_stops_at_a_window_and_keeps_its_rows():
    # a clock that moves one tick per reading: the memory and compare parts start in time, and the deadline has
    # passed when the Captum loop looks after its first window
    ticks = itertools.count(1)
    figures = attribution.run(device="cpu", settings=TINY, deadline=2.5, deadline_clock=lambda: next(ticks))
    assert figures["compared_windows"] == 1
    assert "1 of 3 windows" in figures["parts"]["cut"]["compare"]
    assert figures["captum_loop_seconds"] > 0 and figures["engine_seconds"] > 0
    assert figures["max_relative_difference"] < 1e-4            # on the window both measured
    assert figures["parts"]["done"] == ["memory", "compare"]
    assert figures["parts"]["skipped"] == {name: TIME_SPENT for name in ("bf16", "rates", "network", "study")}
    assert "errors" not in figures and "bf16_vs_fp32" not in figures


def test_out_of_memory_in_one_part_keeps_the_others(monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 177.00 GiB\nmore detail")

    monkeypatch.setattr(attribution, "_network_ms_per_row", out_of_memory)
    figures = attribution.run(device="cpu", settings=TINY)
    assert figures["errors"] == {"network": "OutOfMemoryError: CUDA out of memory. Tried to allocate 177.00 GiB"}
    assert figures["parts"]["done"] == ["memory", "compare", "bf16", "rates", "study"]
    assert "network_forward_backward_ms_per_row" not in figures
    # measured before the failing part and after it
    assert figures["speedup_vs_captum_loop"] > 0 and figures["bf16_vs_fp32"]["heat_pearson"] > 0.99
    assert figures["flop_per_pass"] > 0 and figures["study_windows"] > 0


def test_the_segmenter_measurement_is_stopped_at_the_deadline():
    # the measuring child (a fresh Python importing torch and MONAI) cannot finish within a second
    started = time.monotonic()
    figures = segmenter.run(quick=True, slices=16, size=64, reference=False, threads=1,
                            deadline=time.monotonic() + 1.0)
    assert time.monotonic() - started < 30
    assert figures["parts"]["done"] == ["phantom"] and "streamed" in figures["parts"]["cut"]
    assert "seconds" not in figures and "errors" not in figures and figures["study_shape_zyx"] == [16, 64, 64]
