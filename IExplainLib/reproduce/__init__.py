"""``iexplain reproduce``: the whole method (phantoms or a dataset -> classifier -> h -> pseudo-labels -> segmenter ->
finetuning against random init -> quality sets, plus the bench figures) in one run inside a time budget.

Modules: :mod:`.scale` (how big; phase shares), :mod:`.budget` (sharing the minutes), :mod:`.studies` (the data),
:mod:`.pipeline` (the phases), :mod:`.report` (JSON + markdown).
"""

from .budget import Phase, PhaseBudget, PhaseRecord, PhaseSkipped
from .pipeline import ReproduceOptions, Reproduction
from .scale import PHASES, SCALES, Scale, scale_for

__all__ = ["Phase", "PhaseBudget", "PhaseRecord", "PhaseSkipped", "ReproduceOptions", "Reproduction", "PHASES",
           "SCALES", "Scale", "scale_for"]
