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
the achieved TFLOP/s (FLOPs counted by ``torch.utils.flop_counter``) against the device's bf16 peak; there the rows
per batch (engine, Captum's ``internal_batch_size``, the per-row cost) are sized from the GPU's free memory. On every
device the engine also runs under bf16 autocast, and its attributions and heat maps are compared with the fp32
engine's (``bf16_vs_fp32``). The parts stop at a deadline and survive each other's out-of-memory errors
(:mod:`.parts`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

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


def run(quick: bool = False, device: str = "cpu", settings: AttributionSettings | None = None,
        deadline: float | None = None, deadline_clock: Callable[[], float] = time.monotonic) -> dict:
    """The figures, measured in parts (:class:`~.parts.BenchParts`): the engine against the Captum loop, bf16
    autocast against the fp32 engine, FLOP rates, the network's own cost per row, the whole-study estimate and (CUDA)
    a batch of windows. ``deadline`` (a ``time.monotonic()`` value): no part starts after it, and the Captum loop
    stops at a window boundary, its time extrapolated from the windows done; a part that runs out of memory is named
    under ``errors`` and the others are kept. On CUDA the rows per batch are sized from the free memory.
    ``deadline_clock`` reads the time the deadline is checked against."""
    import torch

    from ..devices import resolve_device

    from ..classifier import prepare_study, windows_for
    from ..explain.attribution import make_references, smoothgrad_noise
    from ..explain.model_prep import prepare_for_attribution
    from ..phantoms import make_study
    from .parts import BenchParts, rows_that_fit

    torch.manual_seed(0)
    torch_device = resolve_device(device)
    clock = _clock(torch_device)
    settings = settings or settings_for(torch_device, quick)
    parts = BenchParts(deadline, torch_device, deadline_clock)
    model, spec, model_name = _model_and_spec(torch_device, settings)
    n_windows, kinds, n_samples, n_steps, rounds = (settings.windows, list(settings.references), settings.samples,
                                                    settings.steps, settings.rounds)
    study = make_study(seed=3, slices=max(settings.slices, 2 * spec.slices), size=spec.input_size, negative=False,
                       n_emboli=2)
    stack = prepare_study(study.volume, spec)
    inputs = windows_for(stack, _centres(stack.shape[0], n_windows), spec).to(torch_device)
    generator = torch.Generator().manual_seed(0)
    references = make_references(inputs, kinds, 4.0, generator)
    noise = smoothgrad_noise(inputs, n_samples, 0.05, generator)
    fast_model = prepare_for_attribution(model, inputs[:1])
    cap = max(settings.batch_size, settings.captum_batch or n_steps, 64)
    rows = parts.run("memory", lambda: rows_that_fit(fast_model, inputs, torch_device, cap)) or 1
    sized = replace(settings, batch_size=min(settings.batch_size, rows),
                    captum_batch=min(settings.captum_batch or n_steps, rows) if torch_device.type == "cuda"
                    else settings.captum_batch)
    bench = _Bench(model, fast_model, inputs, references, noise, kinds, sized, clock, parts)
    figures: dict = {
        "model": model_name,
        "device": (str(torch_device) if torch_device.type == "cpu"
                   else f"{torch_device} ({torch.cuda.get_device_name(torch_device)})"),
        "input": f"{spec.channels}x{spec.input_size}x{spec.input_size}",
        "torch_threads": torch.get_num_threads(),
        "work": f"{n_windows} windows x {len(kinds)} references x {n_samples} noise samples x {n_steps} steps",
        "forward_backward_passes": n_windows * len(kinds) * n_samples * n_steps,
        "settings": {"windows": n_windows, "references": kinds, "smoothgrad_samples": n_samples, "steps": n_steps,
                     "rounds": rounds, "engine_batch_rows": sized.batch_size,
                     "captum_internal_batch_size": sized.captum_batch,
                     **({"rows_fitting_memory": rows} if torch_device.type == "cuda" else {})},
    }
    compare = parts.run("compare", bench.compare)
    if compare:
        figures.update(compare)
    agreement = parts.run("bf16", lambda: bench.bf16(spec.slices), needs=("compare",))
    if agreement:
        figures.update(agreement)
    rates = parts.run("rates", lambda: _rates(fast_model, inputs, bench.passes, bench.engine_s, torch_device),
                      needs=("compare",))
    if rates:
        figures.update(rates)
        if bench.bf16_s is not None:
            figures["engine_bf16_tflops"] = _sig(rates["flop_per_pass"] * bench.passes / bench.bf16_s / 1e12)
    network = parts.run("network", lambda: _network_ms_per_row(fast_model, inputs, rounds, clock,
                                                               rows=min(64, rows)))
    if network:
        network_ms, forward_ms = network
        # The prepared network's own cost per row in large batches. Batching paths alone cannot beat its forward +
        # input-gradient backward (the engine goes a little past it by running the affine stem once per path); no
        # engine at all can beat its forward pass: these bound the speed-up this device allows.
        figures.update({"network_forward_backward_ms_per_row": round(network_ms, 3),
                        "network_forward_ms_per_row": round(forward_ms, 3)})
        if compare:
            captum_ms = 1000 * bench.captum_s / bench.passes
            figures.update({"speedup_ceiling_batching_only": round(captum_ms / network_ms, 2),
                            "speedup_ceiling_if_backward_were_free": round(captum_ms / forward_ms, 2)})
    study_figures = parts.run("study", lambda: _study_figures(fast_model, stack, spec, bench.captum_s / n_windows,
                                                              bench.engine_s / n_windows, clock, torch_device),
                              needs=("compare",))
    if study_figures:
        figures.update(study_figures)
    # bf16 batch figures are a GPU's (the bf16 part above measures the agreement on every device)
    for bf16 in ((False, True) if torch_device.type == "cuda" else (False,)) if settings.batch_windows else ():
        def batch(bf16: bool = bf16) -> dict:
            return _batch_of_windows(fast_model, stack, spec, sized, kinds, bench.captum_s / n_windows,
                                     figures["flop_per_pass"], clock, torch_device, bf16)
        figures.update(parts.run(f"batch_{'bf16' if bf16 else 'fp32'}", batch, needs=("rates",)) or {})
    return {**figures, **parts.summary()}


class _Bench:
    """The timed comparison and the bf16 run on one set of windows, references and noise."""

    def __init__(self, model, fast_model, inputs, references, noise, kinds, settings: AttributionSettings, clock,
                 parts):
        self.model, self.fast_model, self.inputs = model, fast_model, inputs
        self.references, self.noise, self.kinds = references, noise, kinds
        self.settings, self.clock, self.parts = settings, clock, parts
        self.passes = settings.windows * len(kinds) * settings.samples * settings.steps
        self.captum_s = self.engine_s = 0.0
        self.bf16_s: float | None = None
        self.fp32: torch.Tensor | None = None

    def captum_loop(self, stop_early: bool):
        """(attributions, windows done): stops after a window once the deadline has passed (``stop_early``)."""
        import torch
        from captum.attr import IntegratedGradients

        settings, inputs, noise = self.settings, self.inputs, self.noise
        explainer = IntegratedGradients(self.model)
        out = torch.zeros_like(inputs)
        for w in range(settings.windows):
            for r in range(len(self.kinds)):
                for k in range(settings.samples):
                    point = inputs[w:w + 1] if noise is None else inputs[w:w + 1] + noise[w, k:k + 1]
                    out[w] += explainer.attribute(point, baselines=self.references[w, r:r + 1], target=0,
                                                  n_steps=settings.steps, method="gausslegendre",
                                                  internal_batch_size=settings.captum_batch)[0]
            if stop_early and w + 1 < settings.windows and self.parts.out_of_time():
                return out[:w + 1] / (len(self.kinds) * settings.samples), w + 1
        return out / (len(self.kinds) * settings.samples), settings.windows

    def engine(self, windows: int | None = None):
        from ..explain.attribution import integrated_gradients

        rows = slice(0, windows)
        noise = None if self.noise is None else self.noise[rows]
        return integrated_gradients(self.fast_model, self.inputs[rows], self.references[rows], noise,
                                    n_steps=self.settings.steps, method="gausslegendre",
                                    batch_size=self.settings.batch_size, channels_last=True)

    def compare(self) -> dict:
        """Captum loop and engine timed alternately (best of the rounds run before the deadline)."""
        from captum.attr import IntegratedGradients

        from ..explain.attribution import integrated_gradients

        settings, inputs = self.settings, self.inputs
        if inputs.device.type == "cuda":  # warm-up outside the clock: cuDNN picks its kernels on the first calls
            IntegratedGradients(self.model).attribute(inputs[:1], baselines=self.references[:1, 0], target=0,
                                                      n_steps=2, internal_batch_size=settings.captum_batch)
            integrated_gradients(self.fast_model, inputs[:1], self.references[:1, :1], None, n_steps=2,
                                 batch_size=settings.batch_size, channels_last=True)
        captum_times, engine_times, windows = [], [], settings.windows
        for round_index in range(settings.rounds):
            if round_index and self.parts.out_of_time():
                self.parts.cut["compare"] = f"{round_index} of {settings.rounds} rounds before the time limit"
                break
            start = self.clock()
            expected, windows = self.captum_loop(stop_early=round_index == 0)
            captum_times.append((self.clock() - start) * settings.windows / windows)
            start = self.clock()
            got = self.engine(windows)
            engine_times.append((self.clock() - start) * settings.windows / windows)
            if windows < settings.windows:
                self.parts.cut["compare"] = (f"the Captum loop stopped after {windows} of {settings.windows} windows "
                                             "at the time limit; both times are scaled to all windows")
                break
        self.fp32, self.captum_s, self.engine_s = got, min(captum_times), min(engine_times)
        difference = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12))
        return {"captum_loop_seconds": round(self.captum_s, 3), "engine_seconds": round(self.engine_s, 3),
                "engine_ms_per_pass": round(1000 * self.engine_s / self.passes, 3),
                "speedup_vs_captum_loop": round(self.captum_s / self.engine_s, 2),
                "max_relative_difference": difference, "compared_windows": windows}

    def bf16(self, slices: int) -> dict:
        """The engine under bf16 autocast (on CUDA what the reproduce run's attribution uses) against the fp32
        engine on the same windows: time, and the agreement of the attributions and of the heat maps iExplain
        thresholds (:func:`attribution_agreement`)."""
        import torch

        reference = self.fp32
        assert reference is not None  # the compare part ran first
        windows = reference.shape[0]
        with torch.autocast(self.inputs.device.type, dtype=torch.bfloat16):
            if self.inputs.device.type == "cuda":
                self.engine(windows)  # warm-up: bf16 kernels are picked on the first call
            start = self.clock()
            got = self.engine(windows)
            seconds = (self.clock() - start) * self.settings.windows / windows
        self.bf16_s = seconds
        figures = {"engine_bf16_seconds": round(seconds, 3),
                   "speedup_bf16_vs_captum_loop": round(self.captum_s / seconds, 2),
                   "bf16_vs_fp32": attribution_agreement(reference, got, slices)}
        figures["max_relative_difference_bf16"] = figures["bf16_vs_fp32"]["max_relative_difference"]
        return figures


def attribution_agreement(reference, other, slices: int, top_share: float = 0.01) -> dict:
    """How far ``other`` (e.g. bf16 autocast) attributions follow ``reference`` (fp32) ones, (B, W*slices, S, S)
    each: the largest difference relative to the reference's largest magnitude; and on the per-slice heat maps
    iExplain thresholds (positive part, each window divided by its mean; default :class:`ExplainParams`) the Pearson
    correlation (pooled, and the lowest of the windows) and the share of the reference's top ``top_share`` voxels
    that are also among the other's."""
    import numpy as np

    from ..explain.iterative import heat_from_attributions
    from ..explain.params import ExplainParams

    reference, other = reference.float(), other.float()
    difference = float((other - reference).abs().max() / reference.abs().max().clamp_min(1e-30))
    params = ExplainParams()
    a = heat_from_attributions(reference, slices, params).astype(np.float64)
    b = heat_from_attributions(other, slices, params).astype(np.float64)

    def pearson(x, y) -> float:
        x, y = x.ravel() - x.mean(), y.ravel() - y.mean()
        scale = float(np.sqrt((x * x).sum() * (y * y).sum()))
        return float((x * y).sum() / scale) if scale > 0 else float(np.array_equal(x, y))

    flat_a, flat_b = a.ravel(), b.ravel()
    k = max(1, int(round(top_share * flat_a.size)))
    top_a = np.argpartition(flat_a, -k)[-k:]
    top_b = np.argpartition(flat_b, -k)[-k:]
    return {"max_relative_difference": difference, "heat_pearson": round(pearson(a, b), 5),
            "heat_pearson_lowest_window": round(min(pearson(a[i], b[i]) for i in range(a.shape[0])), 5),
            f"heat_top_{top_share:g}_overlap": round(len(np.intersect1d(top_a, top_b)) / k, 4),
            "windows": int(a.shape[0])}


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


def _batch_of_windows(model, stack, spec, settings: AttributionSettings, kinds, captum_per_window: float, flops: float,
                      clock, device, bf16: bool) -> dict:
    """A batch of windows through the engine (fp32, or bf16 autocast); the Captum loop's time for them is its
    per-window time times the windows (it handles one window at a time), not run again."""
    import torch

    from ..classifier import windows_for
    from ..explain.attribution import integrated_gradients, make_references, smoothgrad_noise

    count = settings.batch_windows
    inputs = windows_for(stack, _centres(stack.shape[0], count), spec).to(device)
    generator = torch.Generator().manual_seed(1)
    references = make_references(inputs, kinds, 4.0, generator)
    noise = smoothgrad_noise(inputs, settings.samples, 0.05, generator)
    passes = count * len(kinds) * settings.samples * settings.steps
    label = "bf16" if bf16 else "fp32"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        start = clock()
        integrated_gradients(model, inputs, references, noise, n_steps=settings.steps, method="gausslegendre",
                             batch_size=settings.batch_size, channels_last=True)
        seconds = clock() - start
    return {"batch_windows": count, f"batch_engine_{label}_seconds": round(seconds, 3),
            f"batch_engine_{label}_tflops": _sig(flops * passes / seconds / 1e12),
            f"batch_speedup_{label}_vs_captum_loop_estimated": round(count * captum_per_window / seconds, 2),
            # A whole positive 512x512x300 study, every window positive, one iteration each (a pessimistic bound:
            # Algorithm 1 explains only windows the classifier calls positive, each for 1-3 iterations).
            f"study_300_all_positive_{label}_seconds_estimated": round(300 * seconds / count, 1)}


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
