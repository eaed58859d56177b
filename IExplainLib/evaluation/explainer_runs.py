"""Running the iExplain explainer for evaluation: the full algorithm per study (ablation), and the first iteration
with its per-window heat maps kept (threshold tuning), so that h can be swept without recomputing IG.

Both go through the explainer itself (:class:`~IExplainLib.explain.IExplainer`: its prepared model, its window loop
:meth:`~IExplainLib.explain.IExplainer.windows` and :meth:`~IExplainLib.explain.IExplainer.run`) and the study
assembly (``explain.study.assemble_windows``, ``to_ct_grid``), so the masks measured are exactly the masks
``iexplain detect`` would write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..transforms import FieldOfView
from ..volume import Volume

if TYPE_CHECKING:
    from ..explain.explainer import IExplainer
    from ..explain.study import ExplainedWindow, StudyExplanation, StudySegmentation


@dataclass
class AblationResult:
    unfiltered: np.ndarray   # (z, y, x) uint8, value k = first found by iteration k
    iterations: int          # the most iterations any window of the study needed (0: no window positive)
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, explanation: StudyExplanation, segmentation: StudySegmentation) -> AblationResult:
        """What :meth:`~IExplainLib.explain.IExplainer.run` answered, as the ablation and quality figures read it."""
        return cls(segmentation.unfiltered, int(explanation.iterations.max(initial=0)), explanation.probabilities)


def explain_for_ablation(explainer: IExplainer, volume: Volume, progress: Callable | None = None) -> AblationResult:
    """The full iExplain algorithm on one study (an :class:`~IExplainLib.explain.IExplainer`); per-iteration
    segments on the CT grid, before filtering."""
    return AblationResult.of(*explainer.run(volume, progress))


@dataclass
class FirstIterationCache:
    """Algorithm 1's first iteration in every window of a study (maps kept only where the classifier called the
    window positive), ready to be clustered again at any h."""

    depth: int
    size: int
    ct_shape: tuple[int, int, int]
    windows: list[ExplainedWindow]
    view: FieldOfView | None = None  # the classifier's field of view on the CT slice
    threshold: float = 0.5           # the classifier's probability threshold

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.ct_shape


def first_iteration_cache(explainer: IExplainer, volume: Volume,
                          progress: Callable | None = None) -> FirstIterationCache:
    """IG once per positive window (the expensive part) through the explainer's own window loop, heat maps kept."""
    from ..classifier.windows import field_of_view

    first = explainer.with_params(explainer.params.replace(max_iterations=1))
    stack = first.prepare(volume, progress)
    windows = [window.compact() for window in first.windows(stack, progress)]
    return FirstIterationCache(stack.shape[0], stack.shape[-1], volume.shape, windows,
                               field_of_view(volume.shape, volume.spacing, explainer.spec), first.threshold)


def segment_at(cache: FirstIterationCache, high_threshold: float, params) -> np.ndarray:
    """The explainer's first-iteration mask on the CT grid (before filtering) at ``high_threshold``: each window
    clustered again, then assembled and brought back to the CT grid by ``explain_stack``'s own steps."""
    from ..explain.study import assemble_windows, to_ct_grid

    windows = (window.at_high_threshold(high_threshold, params) for window in cache.windows)
    explanation = assemble_windows(windows, cache.depth, cache.size, params, cache.threshold)
    return to_ct_grid(explanation, cache.ct_shape, params.replace(filter=False), cache.view).unfiltered > 0
