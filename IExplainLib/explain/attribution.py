"""Batched Integrated Gradients: every step x reference x noise sample x window in a few large batches.

Captum's ``IntegratedGradients`` explains one input against one baseline per call, and ``NoiseTunnel`` loops over
noise samples; the iExplain voting (several references, SmoothGrad samples) over every window of a study would be
thousands of small calls. Here all interpolated inputs are laid out as rows ``(job, step)`` where a job is one
(window, reference, noise sample); rows are built by broadcasting, whole jobs per chunk (``batch_size`` rows), with
one forward and one backward per chunk. The quadrature (step sizes and alphas) is Captum's own, so the result equals
Captum's on the same settings (tested to 1e-4 relative).

Result per window: the mean over references and noise samples of ``(x + noise - reference) * integral of grads``,
i.e. Captum's ``NoiseTunnel(IntegratedGradients)`` with ``nt_type="smoothgrad"``, averaged over references.
"""

from __future__ import annotations

import math
import torch

from ..errors import InputError


def quadrature(n_steps: int, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(step_sizes, alphas)`` as float64 tensors, from Captum's approximation_methods."""
    from ..thirdparty import ig_quadrature

    try:
        step_sizes_of, alphas_of = ig_quadrature(method)
    except ValueError as error:
        raise InputError(f"unknown IG quadrature {method!r}") from error
    return (torch.tensor(step_sizes_of(n_steps), dtype=torch.float64),
            torch.tensor(alphas_of(n_steps), dtype=torch.float64))


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """In-plane Gaussian blur of (..., H, W) with edge replication (separable, on the images' device)."""
    if sigma <= 0:
        return images.clone()
    height, width = images.shape[-2:]
    radius = max(1, min(int(math.ceil(3 * sigma)), (min(height, width) - 1) // 2 or 1))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    flat = images.reshape(-1, 1, height, width)
    flat = torch.nn.functional.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = torch.nn.functional.conv2d(flat, kernel.view(1, 1, 1, -1))
    flat = torch.nn.functional.conv2d(flat, kernel.view(1, 1, -1, 1))
    return flat.reshape(images.shape)


def make_references(inputs: torch.Tensor, kinds: list[str], blur_sigma_px: float = 4.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """IG references (baselines) for each input: (B, C, H, W) -> (B, R, C, H, W).

    ``zero`` black (below the HU window), ``one`` white, ``mean`` each input's mean grey, ``blur`` the input blurred
    in-plane (anatomy kept, small structures such as emboli removed), ``uniform_noise`` U(0, 1) and
    ``gaussian_noise`` noise with each input's mean and standard deviation, clipped to [0, 1]. Random references are
    drawn on the CPU from ``generator`` so that results do not depend on the device.
    """
    made = []
    for kind in kinds:
        if kind == "zero":
            made.append(torch.zeros_like(inputs))
        elif kind == "one":
            made.append(torch.ones_like(inputs))
        elif kind == "mean":
            made.append(inputs.mean(dim=(1, 2, 3), keepdim=True).expand_as(inputs).clone())
        elif kind == "blur":
            made.append(gaussian_blur(inputs, blur_sigma_px))
        elif kind == "uniform_noise":
            made.append(torch.rand(inputs.shape, generator=generator).to(inputs))
        elif kind == "gaussian_noise":
            mean = inputs.mean(dim=(1, 2, 3), keepdim=True)
            std = inputs.std(dim=(1, 2, 3), keepdim=True)
            draw = torch.randn(inputs.shape, generator=generator).to(inputs)
            made.append((mean + std * draw).clamp(0.0, 1.0))
        else:
            raise InputError(f"unknown IG reference {kind!r}")
    return torch.stack(made, dim=1)


def smoothgrad_noise(inputs: torch.Tensor, samples: int, stdev: float,
                     generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Gaussian noise (B, K, C, H, W) with absolute ``stdev`` (Captum NoiseTunnel semantics).

    None (plain IG) for one sample or a zero stdev: SmoothGrad means averaging over several noisy copies.
    """
    if samples <= 1 or stdev == 0:
        return None
    shape = (inputs.shape[0], samples) + tuple(inputs.shape[1:])
    return (torch.randn(shape, generator=generator) * stdev).to(inputs)


def _chunks(n_jobs: int, n_steps: int, batch_size: int):
    """(job slice, step slice) pairs covering every (job, step) with at most ``max(batch_size, 1)`` rows each:
    whole jobs per chunk when their steps fit, else one job's steps in slices."""
    if n_steps <= batch_size:
        per_chunk = batch_size // n_steps
        for start in range(0, n_jobs, per_chunk):
            yield slice(start, min(start + per_chunk, n_jobs)), slice(0, n_steps)
    else:
        for job in range(n_jobs):
            for start in range(0, n_steps, batch_size):
                yield slice(job, job + 1), slice(start, min(start + batch_size, n_steps))


def _input_gradient_of_affine(stem, output_gradient: torch.Tensor, input_shape) -> torch.Tensor:
    """The gradient with respect to the input of an affine module for ``output_gradient``: the same at any input,
    so one evaluation at zero gives it."""
    probe = torch.zeros(input_shape, dtype=output_gradient.dtype, device=output_gradient.device, requires_grad=True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(stem(probe), probe, grad_outputs=output_gradient)
    return gradient


def integrated_gradients(model: torch.nn.Module, inputs: torch.Tensor, references: torch.Tensor,
                         noise: torch.Tensor | None = None, n_steps: int = 50, method: str = "gausslegendre",
                         batch_size: int = 64, target: int = 0, channels_last: bool = False) -> torch.Tensor:
    """Mean IG attribution of ``model``'s logit ``target`` over references and noise samples.

    inputs (B, C, H, W); references (B, R, C, H, W); noise (B, K, C, H, W) or None. Returns (B, C, H, W) float32.
    A job is one path (window, reference, noise sample); chunks of whole jobs (``batch_size`` rows of steps) run as
    one forward and one backward. Per job, ``x + noise - reference`` is formed once; the steps' gradients are
    summed with Captum's quadrature weights before they meet it. With an :class:`AffineStemSplit` model the affine
    first layer runs once per path end and its input gradient once per job: both are linear along the path.
    """
    if inputs.ndim != 4 or references.ndim != 5 or references.shape[0] != inputs.shape[0]:
        raise ValueError("inputs must be (B, C, H, W) and references (B, R, C, H, W)")
    from .model_prep import AffineStemSplit

    batch, n_refs = references.shape[:2]
    n_samples = 1 if noise is None else noise.shape[1]
    step_sizes, alphas = quadrature(n_steps, method)
    device = inputs.device
    alphas = alphas.to(device=device, dtype=inputs.dtype)
    step_sizes = step_sizes.to(device=device, dtype=torch.float32)
    split = model if isinstance(model, AffineStemSplit) else None
    network = model if split is None else split.after_stem
    attributions = torch.zeros(inputs.shape, dtype=torch.float32, device=device)
    for jobs, steps in _chunks(batch * n_refs * n_samples, n_steps, max(1, batch_size)):
        job = torch.arange(jobs.start, jobs.stop, device=device)
        sample = job % n_samples
        reference = (job // n_samples) % n_refs
        window = job // (n_samples * n_refs)
        point = inputs[window] if noise is None else inputs[window] + noise[window, sample]
        baseline = references[window, reference]
        difference = point - baseline
        if split is not None:
            with torch.no_grad():
                path_start = split.stem(baseline)
                path_step = split.stem(point) - path_start
        else:
            path_start, path_step = baseline, difference
        step_alphas = alphas[steps].view(1, -1, 1, 1, 1)
        scaled = (path_start.unsqueeze(1) + step_alphas * path_step.unsqueeze(1)).flatten(0, 1)
        if channels_last:
            scaled = scaled.contiguous(memory_format=torch.channels_last)
        scaled.requires_grad_(True)
        with torch.enable_grad():
            logits = network(scaled)
            selected = logits.reshape(logits.shape[0], -1)[:, target]
            (grads,) = torch.autograd.grad(selected.sum(), scaled)
        grads = grads.float().view(len(job), -1, *grads.shape[1:])
        integral = torch.einsum("s,jschw->jchw", step_sizes[steps], grads)
        if split is not None:
            integral = _input_gradient_of_affine(split.stem, integral.to(inputs.dtype), difference.shape).float()
        attributions.index_add_(0, window, integral * difference.float())
    return attributions / (n_refs * n_samples)


@torch.no_grad()
def positive_probability(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 64,
                         target: int = 0) -> torch.Tensor:
    """Sigmoid of logit ``target`` for (B, C, H, W) inputs, forward only, in batches; (B,) on the CPU."""
    out = []
    with torch.inference_mode():
        for start in range(0, inputs.shape[0], batch_size):
            logits = model(inputs[start:start + batch_size])
            out.append(torch.sigmoid(logits.reshape(logits.shape[0], -1)[:, target].float()).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def window_seed(seed: int, key: int, iteration: int) -> int:
    """A seed per (study seed, window, iteration): random references and noise do not depend on batching."""
    return (int(seed) * 1_000_003 + int(key) * 1009 + int(iteration)) % (2 ** 63)


def explain_batch(model: torch.nn.Module, inputs: torch.Tensor, params, keys: list[int],
                  iteration: int = 1) -> torch.Tensor:
    """IG attributions (B, C, H, W) of ``inputs`` with ``params``' references, SmoothGrad and quadrature.

    ``keys`` (one int per input, e.g. the window's centre slice) seed its random references and noise.
    """
    input_size = inputs.shape[-1]
    blur_sigma = params.blur_sigma_px * params.scale_for(input_size)
    references, noises = [], []
    for index, key in enumerate(keys):
        generator = torch.Generator().manual_seed(window_seed(params.seed, key, iteration))
        single = inputs[index:index + 1]
        references.append(make_references(single, params.references, blur_sigma, generator))
        noise = smoothgrad_noise(single, params.smoothgrad_samples, params.smoothgrad_stdev, generator)
        if noise is not None:
            noises.append(noise)
    noise = torch.cat(noises) if noises else None
    return integrated_gradients(model, inputs, torch.cat(references), noise, n_steps=params.n_steps,
                                method=params.quadrature, batch_size=params.batch_size)
