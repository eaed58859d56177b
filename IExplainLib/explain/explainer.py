"""iExplain as an object, as Captum's attribution methods are: state in ``__init__``, work in one call.

``IExplainer(classifier, params, device)`` loads the classifier once and makes it cheap to differentiate (frozen,
Conv+BN fused, channels_last; checked on a seeded random input of its own size); ``.explain(volume)`` runs the
classifier's sliding window through Algorithm 1 and returns a :class:`~IExplainLib.detection.Detection` on the CT
grid. ``detect``, ``pseudo-label``, the demo, ``reproduce`` and the evaluation runs (through :meth:`IExplainer.run`,
the same steps before the filters) all go through it, so every one of them measures exactly what ``detect`` writes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ..detection import Detection, describe_study_findings
from ..errors import InputError
from ..progress import QUIET
from ..volume import Volume
from .params import ExplainParams, params_for_model
from .study import (ExplainedWindow, StudyExplanation, StudySegmentation, assemble_windows, explain_windows,
                    to_ct_grid)

if TYPE_CHECKING:
    import torch

    from ..classifier.inference import LoadedClassifier


class IExplainer:
    """``classifier``: a model file path or a :class:`~IExplainLib.classifier.inference.LoadedClassifier`.
    ``params``: the iExplain parameters; by default the card's (``params_for_model``), with ``params_file`` and
    ``overrides`` applied on top in that order (only when ``params`` is not given)."""

    def __init__(self, classifier: LoadedClassifier | str | Path, params: ExplainParams | None = None,
                 device: torch.device | str = "auto",
                 params_file: str | Path | None = None, overrides: dict | None = None):
        import torch

        from ..classifier.inference import LoadedClassifier, load_classifier
        from ..devices import resolve_device
        from .model_prep import prepare_for_attribution

        if params is not None and (params_file is not None or overrides):
            raise InputError("give the iExplain parameters either whole (params) or as a file and overrides")
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.classifier = classifier if isinstance(classifier, LoadedClassifier) else \
            load_classifier(classifier, self.device)
        self.params = params if params is not None else \
            params_for_model(self.classifier.card, params_file, overrides)
        spec = self.classifier.spec
        example = torch.rand((1, spec.channels, spec.input_size, spec.input_size),
                             generator=torch.Generator().manual_seed(0)).to(self.device)
        self.model = prepare_for_attribution(self.classifier.model.to(self.device), example)

    @property
    def spec(self):
        return self.classifier.spec

    @property
    def card(self) -> dict:
        return self.classifier.card

    @property
    def threshold(self) -> float:
        """The classifier's PE probability threshold: the parameters' override, else the card's."""
        chosen = self.params.classifier_threshold
        return float(self.spec.threshold if chosen is None else chosen)

    def with_params(self, params: ExplainParams) -> "IExplainer":
        """The same prepared model with other parameters (no reload, no second preparation)."""
        other = copy.copy(self)
        other.params = params
        return other

    def prepare(self, volume: Volume, progress: Callable | None = None) -> torch.Tensor:
        """The classifier's stack of ``volume`` (Z, W, S, S) on the explainer's device."""
        from ..classifier.windows import prepare_study

        if volume.shape[0] < 1:
            raise InputError("the CT has no slices")
        (progress or QUIET)("prepare", 0.0, f"windowing and resampling {volume.describe()}")
        return prepare_study(volume, self.spec).to(self.device)

    def windows(self, stack: torch.Tensor, progress: Callable | None = None) -> Iterator[ExplainedWindow]:
        """Algorithm 1 in the window centred on every slice of ``stack`` (:meth:`prepare`), yielded in slice order:
        the one window loop that detection and the evaluation runs share."""
        return explain_windows(self.model, stack, self.spec, self.params, self.device, self.threshold, progress)

    def run(self, volume: Volume, progress: Callable | None = None) -> tuple[StudyExplanation, StudySegmentation]:
        """Algorithm 1 over every window of ``volume``, assembled on the CT grid: the per-window explanation and the
        segmentation before and after the cluster filters."""
        from ..classifier.windows import field_of_view

        progress = progress or QUIET
        stack = self.prepare(volume, progress)
        depth, size = stack.shape[0], stack.shape[-1]
        explanation = assemble_windows(self.windows(stack, progress), depth, size, self.params, self.threshold)
        del stack
        progress("assemble", 0.0, "per-iteration segments on the CT grid")
        view = field_of_view(volume.shape, volume.spacing, self.spec)
        return explanation, to_ct_grid(explanation, volume.shape, self.params, view, volume)

    def explain(self, volume: Volume, progress: Callable | None = None) -> Detection:
        """iExplain on one study: labelmap (value k = iteration k), heat map and findings on the CT grid."""
        explanation, result = self.run(volume, progress)
        findings = describe_study_findings(result.labelmap, volume, result.heat)
        return Detection(volume.with_array(result.labelmap), volume.with_array(result.heat),
                         int(result.labelmap.max(initial=0)), findings,
                         study_summary(explanation, result.labelmap, result.unfiltered), method="iexplain")


def study_summary(explanation: StudyExplanation, labelmap: np.ndarray, unfiltered: np.ndarray) -> dict:
    """Counts for logs and the findings file: windows positive, iterations run, why windows stopped."""
    reasons: dict[str, int] = {}
    for reason, ran in zip(explanation.stop_reasons, explanation.iterations):
        if ran:
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "slices": int(explanation.probabilities.size),
        "positive_windows": int((explanation.probabilities > explanation.threshold).sum()),
        "classifier_threshold": float(explanation.threshold),
        "max_window_iterations": int(explanation.iterations.max(initial=0)),
        "stop_reasons": reasons,
        "voxels_before_filter": int((unfiltered > 0).sum()),
        "voxels": int((labelmap > 0).sum()),
    }
