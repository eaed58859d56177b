"""Speed of the batched attribution engine against the plain Captum loop, measured in one run.

Reference: what one would write with Captum directly: for every window, every IG reference and every SmoothGrad
noise sample, one ``IntegratedGradients(model).attribute(...)`` call (``internal_batch_size`` left at its default,
i.e. all steps of a call in one batch), on the model as loaded, then the average.
Engine: :func:`IExplainLib.explain.attribution.integrated_gradients` on the same inputs, references and noise, with
the model prepared by :func:`IExplainLib.explain.model_prep.prepare_for_attribution` (frozen, Conv+BN fused,
channels_last), all rows in large batches. Both are timed alternately over several rounds (best of each), so that
load from other processes affects both alike; the results agree to ``max_relative_difference``.

Model: the bundled demo classifier when present, else the default architecture with random weights (same cost).
On CUDA the paper's settings are timed (:data:`PAPER`: EfficientNetV2-L on 7x512x512, 5 references x 3 SmoothGrad
samples x 50 steps, one positive window, then a batch of windows through the engine), also under bf16 autocast, with
the achieved TFLOP/s (FLOPs counted by ``torch.utils.flop_counter``) against the device's bf16 peak.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..modelfile import bundled_model

if TYPE_CHECKING:
    import torch

DEMO_CLASSIFIER = bundled_model("demo-classifier")


@dataclass(frozen=True)
class AttributionSettings:
    windows: int
    references: tuple[str, ...]
    samples: int
    steps: int
    rounds: int
    batch_size: int = 64            # engine rows per forward/backward
    backbone: str | None = None     # None: the bundled demo classifier (or the default architecture)
    input_size: int | None = None
    captum_batch: int | None = None  # Captum's internal_batch_size (None: all steps of a call at once)
    batch_windows: int = 0          # then a batch of this many windows through the engine alone
    slices: int = 24                # of the phantom the windows come from


QUICK = AttributionSettings(2, ("zero", "blur"), 2, 8, 2)
DEFAULT = AttributionSettings(4, ("zero", "blur", "uniform_noise"), 2, 20, 3)
PAPER = AttributionSettings(1, ("zero", "blur", "mean", "uniform_noise", "one"), 3, 50, 1, batch_size=25,
                            backbone="tf_efficientnetv2_l", input_size=512, captum_batch=25, batch_windows=4)
# Dense bf16 tensor rates from the vendors' datasheets (TFLOP/s), matched against torch's device name.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0,
                    "L4": 121.0, "RTX 4090": 165.0, "B200": 2250.0}


def settings_for(device: torch.device | str, quick: bool) -> AttributionSettings:
    """QUICK when asked; the paper's settings on CUDA; a CPU-sized run otherwise."""
    if quick:
        return QUICK
    return PAPER if getattr(device, "type", str(device)) == "cuda" else DEFAULT


def _model_and_spec(device: torch.device, settings: AttributionSettings | None = None):
    from ..classifier import ClassifierSpec, build_classifier, load_classifier

    if settings is not None and settings.backbone:
        spec = ClassifierSpec(backbone=settings.backbone, input_size=settings.input_size or 512)
        return build_classifier(spec).to(device).eval(), spec, f"{spec.backbone} (random weights; cost as trained)"
    if DEMO_CLASSIFIER.exists():
        loaded = load_classifier(DEMO_CLASSIFIER, device)
        return loaded.model.eval(), loaded.spec, "demo-classifier"
    spec = ClassifierSpec()
    return (build_classifier(spec).to(device).eval(), spec,
            f"{spec.backbone} (random weights: no bundled demo classifier)")


def _clock(device: torch.device):
    """A timer that waits for queued GPU work first, so that asynchronous kernels are counted."""
    import torch

    def now() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()
    return now


def run(quick: bool = False, device: str = "cpu", settings: AttributionSettings | None = None) -> dict:
    import torch
    from captum.attr import IntegratedGradients

    from ..devices import resolve_device

    from ..classifier import prepare_study, windows_for
    from ..explain.attribution import integrated_gradients, make_references, smoothgrad_noise
    from ..explain.model_prep import prepare_for_attribution
    from ..phantoms import make_study

    torch.manual_seed(0)
    torch_device = resolve_device(device)
    clock = _clock(torch_device)
    settings = settings or settings_for(torch_device, quick)
    model, spec, model_name = _model_and_spec(torch_device, settings)
    n_windows, kinds, n_samples, n_steps, rounds = (settings.windows, list(settings.references), settings.samples,
                                                    settings.steps, settings.rounds)
    study = make_study(seed=3, slices=max(settings.slices, 2 * spec.slices), size=spec.input_size, negative=False,
                       n_emboli=2)
    stack = prepare_study(study.volume, spec)
    centres = _centres(stack.shape[0], n_windows)
    inputs = windows_for(stack, centres, spec).to(torch_device)
    generator = torch.Generator().manual_seed(0)
    references = make_references(inputs, kinds, 4.0, generator)
    noise = smoothgrad_noise(inputs, n_samples, 0.05, generator)
    fast_model = prepare_for_attribution(model, inputs[:1])

    def captum_loop():
        explainer = IntegratedGradients(model)
        out = torch.zeros_like(inputs)
        for w in range(n_windows):
            for r in range(len(kinds)):
                for k in range(n_samples):
                    point = inputs[w:w + 1] if noise is None else inputs[w:w + 1] + noise[w, k:k + 1]
                    out[w] += explainer.attribute(point,
                                                  baselines=references[w, r:r + 1], target=0,
                                                  n_steps=n_steps, method="gausslegendre",
                                                  internal_batch_size=settings.captum_batch)[0]
        return out / (len(kinds) * n_samples)

    def engine():
        return integrated_gradients(fast_model, inputs, references, noise, n_steps=n_steps,
                                    method="gausslegendre", batch_size=settings.batch_size, channels_last=True)

    if torch_device.type == "cuda":  # warm-up outside the clock: cuDNN picks its kernels on the first calls
        IntegratedGradients(model).attribute(inputs[:1], baselines=references[:1, 0], target=0, n_steps=2,
                                             internal_batch_size=settings.captum_batch)
        integrated_gradients(fast_model, inputs[:1], references[:1, :1], None, n_steps=2,
                             batch_size=settings.batch_size, channels_last=True)
    captum_times, engine_times = [], []
    for _ in range(rounds):
        start = clock()
        expected = captum_loop()
        captum_times.append(clock() - start)
        start = clock()
        got = engine()
        engine_times.append(clock() - start)
    difference = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12))
    passes = n_windows * len(kinds) * n_samples * n_steps
    captum_s, engine_s = min(captum_times), min(engine_times)
    network_ms, forward_ms = _network_ms_per_row(fast_model, inputs, rounds, clock)
    captum_ms = 1000 * captum_s / passes
    study_figures = _study_figures(fast_model, stack, spec, captum_s / n_windows, engine_s / n_windows, clock,
                                   torch_device)
    rates = _rates(fast_model, inputs, passes, engine_s, torch_device)
    if torch_device.type == "cuda":
        rates.update(_bf16_engine(engine, expected, passes, captum_s, rates["flop_per_pass"], clock))
    if settings.batch_windows:
        rates.update(_batch_of_windows(fast_model, stack, spec, settings, kinds, captum_s / n_windows,
                                       rates["flop_per_pass"], clock, torch_device))
    return {
        "model": model_name,
        "device": (str(torch_device) if torch_device.type == "cpu"
                   else f"{torch_device} ({torch.cuda.get_device_name(torch_device)})"),
        "input": f"{spec.channels}x{spec.input_size}x{spec.input_size}",
        "torch_threads": torch.get_num_threads(),
        "work": f"{n_windows} windows x {len(kinds)} references x {n_samples} noise samples x {n_steps} steps",
        "forward_backward_passes": passes,
        "captum_loop_seconds": round(captum_s, 3),
        "engine_seconds": round(engine_s, 3),
        "engine_ms_per_pass": round(1000 * engine_s / passes, 3),
        "speedup_vs_captum_loop": round(captum_s / engine_s, 2),
        # The prepared network's own cost per row in 64-row batches. Batching paths alone cannot beat its forward +
        # input-gradient backward (the engine goes a little past it by running the affine stem once per path); no
        # engine at all can beat its forward pass: these bound the speed-up this device allows.
        "network_forward_backward_ms_per_row": round(network_ms, 3),
        "network_forward_ms_per_row": round(forward_ms, 3),
        "speedup_ceiling_batching_only": round(captum_ms / network_ms, 2),
        "speedup_ceiling_if_backward_were_free": round(captum_ms / forward_ms, 2),
        "max_relative_difference": difference,
        "settings": {"windows": n_windows, "references": kinds, "smoothgrad_samples": n_samples, "steps": n_steps,
                     "rounds": rounds, "engine_batch_rows": settings.batch_size,
                     "captum_internal_batch_size": settings.captum_batch},
        **study_figures,
        **rates,
    }


def _centres(depth: int, count: int) -> list[int]:
    import torch

    low, high = min(6, depth - 1), max(min(6, depth - 1), depth - 7)
    return torch.linspace(low, high, count).round().long().tolist()


def flop_per_pass(model, example) -> float:
    """FLOPs of one forward + input-gradient backward of one row (matrix products and convolutions)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    row = example[:1].clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        model(row).sum().backward()  # the model is frozen: only the input gradient is computed
    return float(counter.get_total_flops())


def bf16_peak_tflops(device) -> tuple[float | None, str]:
    """(dense bf16 TFLOP/s from the datasheet table, the device name); None where unknown or on the CPU."""
    import torch

    if device.type != "cuda":
        return None, "cpu"
    name = torch.cuda.get_device_name(device)
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if key in name:
            return BF16_PEAK_TFLOPS[key], name
    return None, name


def measured_matmul_tflops(device, size: int = 8192, repeats: int = 10) -> float:
    """bf16 matrix-product rate this device reaches (after warm-ups): the practical ceiling."""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e12


def _sig(value: float) -> float:
    return float(f"{value:.4g}")


def _rates(model, inputs, passes: int, engine_s: float, device) -> dict:
    flops = flop_per_pass(model, inputs)
    peak, name = bf16_peak_tflops(device)
    achieved = flops * passes / max(engine_s, 1e-12) / 1e12
    figures = {"flop_per_pass": flops, "engine_tflops": _sig(achieved), "bf16_peak_tflops": peak,
               "peak_source": f"datasheet dense bf16 of {name}" if peak else None}
    if device.type == "cuda":
        figures["measured_bf16_matmul_tflops"] = round(measured_matmul_tflops(device), 1)
    if peak:
        figures["engine_share_of_bf16_peak"] = round(achieved / peak, 4)
    return figures


def _bf16_engine(engine, expected, passes: int, captum_s: float, flops: float, clock) -> dict:
    """The same engine call under bf16 autocast (what a GPU run of detect can use): time, rate, agreement."""
    import torch

    with torch.autocast("cuda", dtype=torch.bfloat16):
        engine()
        start = clock()
        got = engine()
        seconds = clock() - start
    difference = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12))
    return {"engine_bf16_seconds": round(seconds, 3), "speedup_bf16_vs_captum_loop": round(captum_s / seconds, 2),
            "engine_bf16_tflops": _sig(flops * passes / seconds / 1e12),
            "max_relative_difference_bf16": difference}


def _batch_of_windows(model, stack, spec, settings: AttributionSettings, kinds, captum_per_window: float, flops: float,
                      clock, device) -> dict:
    """A batch of windows through the engine (fp32 and bf16); the Captum loop's time for them is its per-window time
    times the windows (it handles one window at a time), not run again."""
    import torch

    from ..classifier import windows_for
    from ..explain.attribution import integrated_gradients, make_references, smoothgrad_noise

    count = settings.batch_windows
    inputs = windows_for(stack, _centres(stack.shape[0], count), spec).to(device)
    generator = torch.Generator().manual_seed(1)
    references = make_references(inputs, kinds, 4.0, generator)
    noise = smoothgrad_noise(inputs, settings.samples, 0.05, generator)
    passes = count * len(kinds) * settings.samples * settings.steps
    figures: dict[str, float] = {"batch_windows": count}
    for label, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        if dtype is not None and device.type != "cuda":
            continue
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            start = clock()
            integrated_gradients(model, inputs, references, noise, n_steps=settings.steps, method="gausslegendre",
                                 batch_size=settings.batch_size, channels_last=True)
            seconds = clock() - start
        figures[f"batch_engine_{label}_seconds"] = round(seconds, 3)
        figures[f"batch_engine_{label}_tflops"] = _sig(flops * passes / seconds / 1e12)
        figures[f"batch_speedup_{label}_vs_captum_loop_estimated"] = round(count * captum_per_window / seconds, 2)
        # A whole positive 512x512x300 study, every window positive, one iteration each (a pessimistic bound:
        # Algorithm 1 explains only windows the classifier calls positive, each for 1-3 iterations).
        figures[f"study_300_all_positive_{label}_seconds_estimated"] = round(300 * seconds / count, 1)
    return figures


def _network_ms_per_row(model, inputs, rounds: int, clock, rows: int = 64) -> tuple[float, float]:
    """(forward + input-gradient backward, forward only) milliseconds per row, best of ``rounds`` after a warm-up."""
    import torch

    batch = inputs[torch.arange(rows) % inputs.shape[0]].contiguous(memory_format=torch.channels_last)
    both, forward = [], []
    for _ in range(rounds + 1):
        scaled = batch.clone().requires_grad_(True)
        start = clock()
        torch.autograd.grad(model(scaled).sum(), scaled)
        both.append(clock() - start)
        with torch.inference_mode():
            start = clock()
            model(batch)
            forward.append(clock() - start)
    return 1000 * min(both[1:]) / rows, 1000 * min(forward[1:]) / rows


def _study_figures(model, stack, spec, captum_per_window: float, engine_per_window: float, clock, device) -> dict:
    """Whole-study figure: the plain loop explains every window; Algorithm 1 classifies every window (forward only)
    and explains the positive ones. Estimated from the per-window times above and a timed classification pass."""
    from ..classifier import windows_for
    from ..explain.attribution import positive_probability

    windows = windows_for(stack, list(range(stack.shape[0])), spec).to(device)
    start = clock()
    probabilities = positive_probability(model, windows)
    classify_s = clock() - start
    positives = int((probabilities > spec.threshold).sum())
    depth = int(stack.shape[0])
    pipeline_s = classify_s + positives * engine_per_window
    return {
        "study_windows": depth,
        "study_positive_windows": positives,
        "study_classify_seconds": round(classify_s, 3),
        "study_speedup_vs_captum_loop_estimated": round(depth * captum_per_window / max(pipeline_s, 1e-9), 2),
    }
