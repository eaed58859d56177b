"""A whole study through iExplain: sliding window, Gaussian assembly, per-iteration segments, cluster filtering.

1. The study becomes the classifier's stack (Z, W, S, S) and one mini-volume is centred on every slice.
2. Algorithm 1 runs on groups of windows (``window_batch`` at a time, all iterations batched across the group).
3. Each window's heat map and per-iteration segments vote for the study slices they cover, weighted by a Gaussian
   of the distance between the slice and the window's centre (``window_sigma`` = 0.8 slices), normalised by the
   weights of the windows that exist there (edges have fewer). Windows the classifier calls negative vote 0.
   A voxel belongs to iteration k's segment when its weighted vote for k reaches ``vote_threshold``.
4. Back on the CT grid (bilinear, the inverse of the classifier's in-plane resampling), a voxel found in several
   iterations keeps the earliest, and the paper's size / distance filters (``findings.filter_findings``) drop
   clusters of the union.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from ..finding_filters import keep_findings
from ..transforms import FieldOfView
from .clustering import hysteresis
from .iterative import WindowResult, run_algorithm1
from .params import ExplainParams

if TYPE_CHECKING:
    import torch


class WindowAssembler:
    """Gaussian-weighted sum of window results into study slices (classifier resolution)."""

    def __init__(self, depth: int, height: int, width: int, sigma: float):
        self.depth, self.shape = depth, (depth, height, width)
        self.sigma = float(sigma)
        self.weights = np.zeros(depth, dtype=np.float64)
        self.heat = np.zeros(self.shape, dtype=np.float32)
        self.votes: dict[int, np.ndarray] = {}

    def add(self, centre: int, slice_index: np.ndarray, heat: np.ndarray | None, labels: np.ndarray | None) -> None:
        """One window centred on ``centre`` whose slices are study slices ``slice_index`` (replicas share one)."""
        seen = set()
        for offset, study_slice in enumerate(int(s) for s in slice_index):
            if study_slice in seen:  # a replicated edge slice counts once
                continue
            seen.add(study_slice)
            weight = float(np.exp(-0.5 * ((study_slice - centre) / self.sigma) ** 2))
            self.weights[study_slice] += weight
            if heat is not None:
                self.heat[study_slice] += weight * heat[offset]
            if labels is None:
                continue
            for iteration in np.unique(labels[offset]):
                if iteration == 0:
                    continue
                votes = self.votes.setdefault(int(iteration), np.zeros(self.shape, dtype=np.float32))
                votes[study_slice] += weight * (labels[offset] == iteration)

    def result(self) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """(heat (Z, S, S), {iteration: vote fraction (Z, S, S)}), normalised by the weights present."""
        scale = np.where(self.weights > 0, 1.0 / np.maximum(self.weights, 1e-12), 0.0).astype(np.float32)
        heat = self.heat * scale[:, None, None]
        return heat, {k: v * scale[:, None, None] for k, v in sorted(self.votes.items())}


@dataclass
class StudyExplanation:
    """iExplain's answer for one study at the classifier's resolution (Z, S, S)."""

    heat: np.ndarray
    votes: dict[int, np.ndarray]
    probabilities: np.ndarray            # first-pass classifier probability of every window (Z,)
    iterations: np.ndarray               # iterations Algorithm 1 ran in every window (Z,)
    stop_reasons: list[str] = field(default_factory=list)
    threshold: float = 0.5

    @property
    def max_iteration(self) -> int:
        return max(self.votes) if self.votes else 0


@dataclass
class ExplainedWindow:
    """Algorithm 1's answer for the window centred on study slice ``centre``."""

    centre: int
    slice_index: np.ndarray  # the study slice of each window slice (replicated edge slices repeat)
    result: WindowResult

    @property
    def explained(self) -> bool:
        """The classifier called the window positive, so Algorithm 1 ran at least once."""
        return self.result.iterations > 0

    def compact(self) -> ExplainedWindow:
        """This window without its maps when it was not explained (they are zeros): what a cache of many studies'
        windows keeps."""
        if self.explained:
            return self
        empty = np.zeros((0,) + self.result.heat.shape[1:], np.float32)
        return replace(self, result=replace(self.result, heat=empty, labels=empty.astype(np.uint8)))

    def at_high_threshold(self, high_threshold: float, params: ExplainParams) -> ExplainedWindow:
        """A one-iteration window clustered again at another ``h``: hysteresis of its first heat map, as
        Algorithm 1's first iteration would have found at ``high_threshold`` (the heat map does not depend on h)."""
        if not self.explained:
            return self
        if self.result.iterations > 1:
            raise ValueError("only a window explained by one iteration can be clustered again at another h")
        heat = self.result.heat.astype(np.float32)
        labels = hysteresis(heat, high_threshold, high_threshold * params.low_ratio,
                            params.neighbourhood_zyx(heat.shape[-1])).astype(np.uint8)
        found = replace(self.result, heat=heat, labels=labels, new_voxels=[int(labels.sum())])
        return replace(self, result=found)


def explain_windows(model: torch.nn.Module, stack, spec, params: ExplainParams, device: torch.device | str | None = None,
                    threshold: float | None = None, progress: Callable | None = None) -> Iterator[ExplainedWindow]:
    """Algorithm 1 in a window centred on every slice of ``stack`` (Z, W, S, S), yielded in slice order.

    Windows are classified and explained in groups (``window_batch``, at least ``batch_size``, at a time; all
    iterations batched across the group), so a group's windows come out together."""
    from ..classifier.windows import window_indices, windows_for

    device = device or next(model.parameters()).device
    threshold = spec.threshold if threshold is None else threshold
    depth = stack.shape[0]
    group = max(params.window_batch, params.batch_size)  # windows classified together; positives explained together
    for start in range(0, depth, group):
        centres = np.arange(start, min(start + group, depth))
        inputs = windows_for(stack, centres, spec).to(device)
        index = window_indices(centres, depth, spec)

        def report(iteration: int, active: int, first=int(centres[0]), last=int(centres[-1])) -> None:
            if progress is not None:  # within a group, iterations advance the fraction (most stop early)
                done = start + len(centres) * (1 - 0.5 ** (iteration - 1))
                progress("explain", done / depth, f"slices {first}-{last}: iteration {iteration}, "
                         f"{active} window(s) positive", slice=first, iteration=iteration)

        results: list[WindowResult] = run_algorithm1(model, inputs, spec.slices, params, threshold,
                                                     keys=[int(c) for c in centres], slice_index=index,
                                                     on_iteration=report)
        del inputs
        for centre, slices, result in zip(centres, index, results):
            yield ExplainedWindow(int(centre), slices, result)
        if progress is not None:
            progress("explain", min(1.0, (start + len(centres)) / depth), "", slice=int(centres[-1]),
                     iteration=max(result.iterations for result in results))


def assemble_windows(windows: Iterable[ExplainedWindow], depth: int, size: int, params: ExplainParams,
                     threshold: float) -> StudyExplanation:
    """The windows of a study (``depth`` slices of ``size`` x ``size``) voted into its slices (``WindowAssembler``);
    a window the classifier called negative votes 0."""
    assembler = WindowAssembler(depth, size, size, params.window_sigma)
    probabilities = np.zeros(depth, dtype=np.float32)
    iterations = np.zeros(depth, dtype=np.int32)
    stop_reasons = [""] * depth
    for window in windows:
        result = window.result
        probabilities[window.centre] = result.probabilities[0]
        iterations[window.centre] = result.iterations
        stop_reasons[window.centre] = result.stop_reason
        assembler.add(window.centre, window.slice_index, result.heat if window.explained else None,
                      result.labels if window.explained else None)
    heat, votes = assembler.result()
    return StudyExplanation(heat, votes, probabilities, iterations, stop_reasons, threshold)


def explain_stack(model: torch.nn.Module, stack, spec, params: ExplainParams, device: torch.device | str | None = None,
                  threshold: float | None = None, progress: Callable | None = None) -> StudyExplanation:
    """Algorithm 1 in a window centred on every slice of ``stack`` (Z, W, S, S), assembled into the study."""
    threshold = spec.threshold if threshold is None else threshold
    windows = explain_windows(model, stack, spec, params, device, threshold, progress)
    return assemble_windows(windows, stack.shape[0], stack.shape[-1], params, threshold)


@dataclass
class StudySegmentation:
    """iExplain's answer on the CT grid (z, y, x): labelmap value k = found first by iteration k."""

    labelmap: np.ndarray       # uint8
    heat: np.ndarray           # float32
    unfiltered: np.ndarray     # uint8 labelmap before the size / distance filter
    iterations: int            # number of iteration segments (the largest label found before filtering)


def to_ct_grid(explanation: StudyExplanation, ct_shape: tuple[int, int, int], params: ExplainParams,
               view: FieldOfView | None = None, volume=None) -> StudySegmentation:
    """Per-iteration segments and heat map on the CT grid, earliest iteration first, then the paper's filters.

    ``view``: the part of the slice the classifier saw (``classifier.windows.field_of_view``; None: the whole slice);
    its inverse brings the maps back, and outside it the heat map is 0 and nothing is segmented. ``volume``: the CT,
    which the chest location filter and the defect check need (``finding_filters.keep_findings``)."""
    depth, height, width = ct_shape
    if explanation.heat.shape[0] != depth:
        raise ValueError(f"explanation has {explanation.heat.shape[0]} slices, the CT {depth}")
    view = view or FieldOfView((height, width), (0, height, 0, width), explanation.heat.shape[-1])
    on_grid = view.to_ct

    heat = on_grid(explanation.heat)
    labelmap = np.zeros(ct_shape, dtype=np.uint8)
    for iteration, votes in sorted(explanation.votes.items()):
        found = on_grid(votes) >= params.vote_threshold
        labelmap[found & (labelmap == 0)] = iteration
    unfiltered = labelmap.copy()
    if params.filter and labelmap.any():
        labelmap = _kept_by_iteration(labelmap, keep_findings(labelmap > 0, params, volume))
    return StudySegmentation(labelmap, heat, unfiltered, explanation.max_iteration)


def _kept_by_iteration(labelmap: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """What the filters kept, each kept piece whole and labelled with the earliest iteration it overlaps. The filters
    may keep voxels outside the segments (the defect search selects a whole clot that a segment only touches);
    a piece is never split between iterations."""
    from scipy import ndimage

    pieces, count = ndimage.label(kept, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return np.zeros_like(labelmap)
    never = np.iinfo(np.int32).max
    inside = (pieces > 0) & (labelmap > 0)  # only voxels of both: a full-volume minimum took seconds and GBs
    earliest = np.full(count + 1, never, np.int64)
    np.minimum.at(earliest, pieces[inside], labelmap[inside].astype(np.int64))
    table = np.where(earliest == never, 0, earliest).astype(labelmap.dtype)
    table[0] = 0
    return table[pieces]
