"""Algorithm 1 of the paper, run for a batch of mini-volumes (windows) at once.

For every window: while the classifier calls it positive, the last iteration found at least ``min_new_voxels`` new
voxels and fewer than ``max_iterations`` iterations ran: explain it (IG heat map), cluster the heat map
(hysteresis), mask the clusters out of the input (``x * (1 - seg)``, every HU-window channel of the slice) and ask
again. Windows advance together, one iteration at a time, so each attribution call sees as many windows as are
still active (large batches), and a window that stops costs nothing more.

Heat maps (what is thresholded by ``h``): the IG attribution of the positive logit, summed over the HU-window
channels of each slice, keeping the positive part (``attribution_sign="positive"``; ``"absolute"`` keeps |a|), then
divided by its mean over the window (``normalisation="window_mean"``): a value of 10 means "ten times the window's
average evidence". That unit does not depend on the logit's scale, the input size or the number of references, so
one ``h`` serves every study and ``tune-threshold`` can choose it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .attribution import explain_batch, positive_probability
from .clustering import hysteresis
from .params import ExplainParams

STOP_NEGATIVE = "negative"    # the classifier no longer sees a PE (or never did)
STOP_SMALL = "small"          # the last iteration found fewer than min_new_voxels new voxels
STOP_LIMIT = "limit"          # max_iterations reached


@dataclass
class WindowResult:
    """What Algorithm 1 found in one window, in window space (slices, S, S)."""

    key: int
    probabilities: list[float]          # classifier probability before each iteration, and after the last
    heat: np.ndarray                    # float32, max over iterations of the normalised heat map
    labels: np.ndarray                  # uint8, iteration (1..) that first found each voxel, 0 elsewhere
    new_voxels: list[int] = field(default_factory=list)  # voxels found by each iteration
    stop_reason: str = STOP_NEGATIVE

    @property
    def iterations(self) -> int:
        return len(self.new_voxels)


def heat_from_attributions(attributions: torch.Tensor, slices: int, params: ExplainParams,
                           slice_index: np.ndarray | None = None) -> np.ndarray:
    """(B, W*slices, S, S) attributions (window-major channels) -> (B, slices, S, S) normalised heat maps.

    ``slice_index`` (B, slices) gives the study slice of each window slice; where the edge slice is replicated
    the copies hold one slice, so their attributions are summed and shared (masking one copy masks them all).
    """
    batch, channels, height, width = attributions.shape
    per_slice = attributions.float().reshape(batch, channels // slices, slices, height, width).sum(dim=1)
    heat = per_slice.cpu().numpy()
    if slice_index is not None:
        heat = _fold_replicated(heat, np.asarray(slice_index))
    heat = np.maximum(heat, 0.0) if params.attribution_sign == "positive" else np.abs(heat)
    if params.normalisation == "none":
        return heat.astype(np.float32)
    reduce = np.mean if params.normalisation == "window_mean" else np.max
    scale = reduce(heat.reshape(batch, -1), axis=1).reshape(batch, 1, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(scale > 0, heat / np.where(scale > 0, scale, 1.0), 0.0)
    return normalised.astype(np.float32)


def _fold_replicated(heat: np.ndarray, slice_index: np.ndarray) -> np.ndarray:
    for window in range(heat.shape[0]):
        _, inverse, counts = np.unique(slice_index[window], return_inverse=True, return_counts=True)
        if counts.max() == 1:
            continue
        sums = np.zeros((counts.size,) + heat.shape[2:], dtype=heat.dtype)
        np.add.at(sums, inverse, heat[window])
        heat[window] = sums[inverse]
    return heat


def run_algorithm1(model: torch.nn.Module, windows: torch.Tensor, slices: int, params: ExplainParams, threshold: float,
                   keys: list[int] | None = None, slice_index: np.ndarray | None = None,
                   on_iteration: Callable[[int, int], None] | None = None) -> list[WindowResult]:
    """Algorithm 1 for a batch of windows (B, W*slices, S, S) on the model's device; one result per window.

    ``threshold`` is the classifier's probability threshold; ``keys`` (default 0..B-1) seed each window's random
    references and noise; ``on_iteration(iteration, active_windows)`` reports progress.
    """
    batch, _, height, width = windows.shape
    keys = list(range(batch)) if keys is None else [int(k) for k in keys]
    neighbourhood = params.neighbourhood_zyx(width)
    min_new = params.min_new_voxels_at(width)
    current = windows.clone()
    channel_groups = windows.shape[1] // slices
    found = np.zeros((batch, slices, height, width), dtype=bool)
    results = [WindowResult(key, [], np.zeros((slices, height, width), np.float32),
                            np.zeros((slices, height, width), np.uint8)) for key in keys]
    probabilities = positive_probability(model, current, params.batch_size).numpy()
    for result, probability in zip(results, probabilities):
        result.probabilities.append(float(probability))
    active = np.flatnonzero(probabilities > threshold)
    for iteration in range(1, params.max_iterations + 1):
        if active.size == 0:
            break
        if on_iteration is not None:
            on_iteration(iteration, int(active.size))
        for start in range(0, active.size, params.window_batch):
            chunk = active[start:start + params.window_batch]
            attributions = explain_batch(model, current[chunk], params, [keys[i] for i in chunk], iteration)
            heat = heat_from_attributions(attributions, slices, params,
                                          None if slice_index is None else slice_index[chunk])
            segments = hysteresis(heat, params.high_threshold, params.low_threshold, neighbourhood)
            for local, window in enumerate(chunk):
                new = segments[local] & ~found[window]
                results[window].labels[new] = iteration
                results[window].new_voxels.append(int(new.sum()))
                results[window].heat = np.maximum(results[window].heat, heat[local])
                found[window] |= segments[local]
            keep = torch.from_numpy(~found[chunk]).to(current.device, current.dtype)
            masked = current[chunk].reshape(len(chunk), channel_groups, slices, height, width) * keep[:, None]
            current[chunk] = masked.reshape(len(chunk), -1, height, width)
        probabilities = positive_probability(model, current[active], params.batch_size).numpy()
        still_active = []
        for window, probability in zip(active, probabilities):
            result = results[window]
            result.probabilities.append(float(probability))
            if probability <= threshold:
                result.stop_reason = STOP_NEGATIVE
            elif result.new_voxels[-1] < min_new:
                result.stop_reason = STOP_SMALL
            elif iteration >= params.max_iterations:
                result.stop_reason = STOP_LIMIT
            else:
                still_active.append(window)
        active = np.asarray(still_active, dtype=int)
    return results
