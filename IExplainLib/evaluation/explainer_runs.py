"""Running the iExplain explainer for evaluation: the full algorithm per study (ablation), and the first iteration
with its per-window heat maps kept (threshold tuning), so that h can be swept without recomputing IG.

Both go through the explainer itself (:class:`~IExplainLib.explain.IExplainer`: its prepared model and
:meth:`~IExplainLib.explain.IExplainer.run`) or its own pieces (``explain.iterative.run_algorithm1``,
``explain.study.WindowAssembler`` and ``to_ct_grid``), so the masks measured are exactly the masks ``iexplain detect``
would write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..transforms import FieldOfView
from ..volume import Volume

if TYPE_CHECKING:
    from ..explain.explainer import IExplainer


@dataclass
class AblationResult:
    unfiltered: np.ndarray   # (z, y, x) uint8, value k = first found by iteration k
    iterations: int          # the most iterations any window of the study needed (0: no window positive)
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0))


def explain_for_ablation(explainer: IExplainer, volume: Volume, progress: Callable | None = None) -> AblationResult:
    """The full iExplain algorithm on one study (an :class:`~IExplainLib.explain.IExplainer`); per-iteration
    segments on the CT grid, before filtering."""
    explanation, segmentation = explainer.run(volume, progress)
    return AblationResult(segmentation.unfiltered, int(explanation.iterations.max(initial=0)),
                          explanation.probabilities)


@dataclass
class FirstIterationCache:
    """Per-window normalised heat maps of Algorithm 1's first iteration (None: the classifier called it negative)."""

    depth: int
    size: int
    ct_shape: tuple[int, int, int]
    windows: list[tuple[int, np.ndarray, np.ndarray | None]]  # (centre, study slice of each window slice, heat)
    view: FieldOfView | None = None  # the classifier's field of view on the CT slice

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.ct_shape


def first_iteration_cache(explainer: IExplainer, volume: Volume,
                          progress: Callable | None = None) -> FirstIterationCache:
    """IG once per positive window (the expensive part), the window heat maps kept."""
    from ..classifier.windows import field_of_view, prepare_study, window_indices, windows_for
    from ..explain.iterative import run_algorithm1

    params = explainer.params.replace(max_iterations=1)
    stack = prepare_study(volume, explainer.spec)
    depth, size = stack.shape[0], stack.shape[-1]
    group = max(params.window_batch, params.batch_size)
    windows = []
    for start in range(0, depth, group):
        centres = np.arange(start, min(start + group, depth))
        inputs = windows_for(stack, centres, explainer.spec).to(explainer.device)
        index = window_indices(centres, depth, explainer.spec)
        results = run_algorithm1(explainer.model, inputs, explainer.spec.slices, params, explainer.threshold,
                                 keys=[int(c) for c in centres], slice_index=index)
        for centre, slices, result in zip(centres, index, results):
            heat = result.heat if result.iterations > 0 else None  # float32: float16 moves voxels across h
            windows.append((int(centre), slices, heat))
        if progress is not None:
            progress("heat maps", min(1.0, (start + len(centres)) / depth), "", slice=int(centres[-1]))
    return FirstIterationCache(depth, size, volume.shape, windows,
                               field_of_view(volume.shape, volume.spacing, explainer.spec))


def segment_at(cache: FirstIterationCache, high_threshold: float, params) -> np.ndarray:
    """The explainer's first-iteration mask on the CT grid (before filtering) at ``high_threshold``: hysteresis in
    each window, Gaussian-weighted votes over windows, back to the CT grid, exactly as ``explain_stack`` does."""
    from ..explain.clustering import hysteresis
    from ..explain.study import StudyExplanation, WindowAssembler, to_ct_grid

    assembler = WindowAssembler(cache.depth, cache.size, cache.size, params.window_sigma)
    neighbourhood = params.neighbourhood_zyx(cache.size)
    low = high_threshold * params.low_ratio
    for centre, slices, heat in cache.windows:
        if heat is None:
            assembler.add(centre, slices, None, None)
            continue
        heat = heat.astype(np.float32)
        labels = hysteresis(heat, high_threshold, low, neighbourhood).astype(np.uint8)
        assembler.add(centre, slices, heat, labels)
    heat, votes = assembler.result()
    explanation = StudyExplanation(heat, votes, np.zeros(cache.depth), np.zeros(cache.depth, dtype=np.int32))
    return to_ct_grid(explanation, cache.ct_shape, params.replace(filter=False), cache.view).unfiltered > 0
