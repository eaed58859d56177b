"""Speed of the batched attribution engine against the plain Captum loop, measured in one run.

Reference: what one would write with Captum directly: for every window, every IG reference and every SmoothGrad
noise sample, one ``IntegratedGradients(model).attribute(...)`` call (``internal_batch_size`` left at its default,
i.e. all steps of a call in one batch), on the model as loaded, then the average.
Engine: :func:`IExplainLib.explain.attribution.integrated_gradients` on the same inputs, references and noise, with
the model prepared by :func:`IExplainLib.explain.model_prep.prepare_for_attribution` (frozen, Conv+BN fused,
channels_last), all rows in large batches. Both are timed alternately over several rounds (best of each), so that
load from other processes affects both alike; the results agree to ``max_relative_difference``.

Model: the bundled demo classifier when present, else the default architecture with random weights (same cost).
"""

from __future__ import annotations

import time

from ..modelfile import bundled_model

DEMO_CLASSIFIER = bundled_model("demo-classifier")


def _model_and_spec(device):
    from ..classifier import ClassifierSpec, build_classifier, load_classifier

    if DEMO_CLASSIFIER.exists():
        loaded = load_classifier(DEMO_CLASSIFIER, device)
        return loaded.model.eval(), loaded.spec, "demo-classifier"
    spec = ClassifierSpec()
    return (build_classifier(spec).to(device).eval(), spec,
            f"{spec.backbone} (random weights: no bundled demo classifier)")


def _clock(device):
    """A timer that waits for queued GPU work first, so that asynchronous kernels are counted."""
    import torch

    def now() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()
    return now


def run(quick: bool = False, device: str = "cpu") -> dict:
    import torch
    from captum.attr import IntegratedGradients

    from ..devices import resolve_device

    from ..classifier import prepare_study, windows_for
    from ..explain.attribution import integrated_gradients, make_references, smoothgrad_noise
    from ..explain.model_prep import prepare_for_attribution
    from ..phantoms import make_study

    torch.manual_seed(0)
    device = resolve_device(device)
    clock = _clock(device)
    model, spec, model_name = _model_and_spec(device)
    n_windows, kinds, n_samples, n_steps, rounds = (2, ["zero", "blur"], 2, 8, 2) if quick else \
        (4, ["zero", "blur", "uniform_noise"], 2, 20, 3)
    study = make_study(seed=3, slices=24, size=spec.input_size, negative=False, n_emboli=2)
    stack = prepare_study(study.volume, spec)
    centres = torch.linspace(6, stack.shape[0] - 7, n_windows).round().long().tolist()
    inputs = windows_for(stack, centres, spec).to(device)
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
                    out[w] += explainer.attribute(inputs[w:w + 1] + noise[w, k:k + 1],
                                                  baselines=references[w, r:r + 1], target=0,
                                                  n_steps=n_steps, method="gausslegendre")[0]
        return out / (len(kinds) * n_samples)

    def engine():
        return integrated_gradients(fast_model, inputs, references, noise, n_steps=n_steps,
                                    method="gausslegendre", batch_size=64, channels_last=True)

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
    study = _study_figures(fast_model, stack, spec, captum_s / n_windows, engine_s / n_windows, clock, device)
    return {
        "model": model_name,
        "device": str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
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
        **study,
    }


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
