"""Every number of Stage 2 (iExplain) in one JSON-serialisable dataclass, with the paper's defaults.

Sizes in pixels/voxels (``neighbourhood``, ``min_new_voxels``) are the paper's, defined on 512x512 slices; with
``reference_size`` set they are scaled to the classifier's input size (a 128-px classifier sees a 15-px
neighbourhood at 512 as 4 px), like :func:`IExplainLib.findings.filter_findings` scales its cluster filters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import InputError
from ..jsonfile import read_json

QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
REFERENCE_KINDS = ("zero", "one", "mean", "blur", "uniform_noise", "gaussian_noise")
NORMALISATIONS = ("window_mean", "window_max", "none")
SIGNS = ("positive", "absolute")


@dataclass
class ExplainParams:
    # Integrated Gradients (Captum semantics)
    n_steps: int = 20
    quadrature: str = "gausslegendre"
    references: list[str] = field(default_factory=lambda: ["zero", "blur", "mean", "uniform_noise", "one"])
    blur_sigma_px: float = 16.0  # in 512-px units; scaled with reference_size
    # SmoothGrad: noise samples averaged; stdev is absolute, in input units (windowed [0, 1])
    smoothgrad_samples: int = 3  # 1 = plain IG
    smoothgrad_stdev: float = 0.05
    # heat map: which attribution counts and how it is made comparable across windows and studies
    attribution_sign: str = "positive"
    normalisation: str = "window_mean"
    # hysteresis clustering
    high_threshold: float = 15.0
    low_ratio: float = 0.5
    neighbourhood: tuple[int, int, int] = (15, 15, 5)  # (x, y, z) voxels
    # Algorithm 1
    classifier_threshold: float | None = None  # None: the classifier card's threshold
    min_new_voxels: int = 50
    max_iterations: int = 10
    # study assembly
    window_sigma: float = 0.8
    vote_threshold: float = 0.5
    # cluster filtering (paper 4.2)
    filter: bool = True
    min_cluster_voxels: int = 100
    max_center_distance_px: float = 160.0
    reference_size: int | None = 512
    # beyond the paper (IExplainLib.finding_filters): "centre" = the paper's distance filter, "chest" = inside the
    # lungs and mediastinum found from HU; defect_check = keep only clot-density cores inside opacified lumen;
    # defect_search_mm > 0: the cores are looked for that far around each cluster and kept when they touch it
    location_filter: str = "centre"
    defect_check: bool = False
    defect_search_mm: float = 0.0
    # execution (no effect on results beyond float rounding)
    batch_size: int = 64
    window_batch: int = 8
    seed: int = 0

    def __post_init__(self):
        self.references = [str(r) for r in self.references]
        sizes = tuple(int(n) for n in self.neighbourhood)
        if len(sizes) == 3:  # any other count stays as given, for validate to refuse naming the field
            self.neighbourhood = (sizes[0], sizes[1], sizes[2])
        self.validate()

    def validate(self) -> None:
        def need(condition: bool, message: str) -> None:
            if not condition:
                raise InputError(f"explain parameters: {message}")

        need(self.quadrature in QUADRATURES, f"quadrature {self.quadrature!r} not one of {QUADRATURES}")
        minimum_steps = 1 if self.quadrature == "gausslegendre" else 2
        need(int(self.n_steps) >= minimum_steps, f"n_steps must be >= {minimum_steps} for {self.quadrature}")
        need(len(self.references) >= 1, "at least one reference is needed")
        unknown = [r for r in self.references if r not in REFERENCE_KINDS]
        need(not unknown, f"unknown references {unknown} (use {', '.join(REFERENCE_KINDS)})")
        need(self.smoothgrad_samples >= 1, "smoothgrad_samples must be >= 1 (1 = no SmoothGrad)")
        need(self.smoothgrad_stdev >= 0, "smoothgrad_stdev must be >= 0")
        need(self.attribution_sign in SIGNS, f"attribution_sign must be one of {SIGNS}")
        need(self.normalisation in NORMALISATIONS, f"normalisation must be one of {NORMALISATIONS}")
        need(self.high_threshold > 0, "high_threshold must be > 0")
        need(0 < self.low_ratio <= 1, "low_ratio must lie in (0, 1]")
        need(len(self.neighbourhood) == 3 and min(self.neighbourhood) >= 1,
             "neighbourhood needs three sizes >= 1 (x, y, z)")
        need(self.classifier_threshold is None or 0 <= self.classifier_threshold <= 1,
             "classifier_threshold must lie in [0, 1]")
        need(self.min_new_voxels >= 0, "min_new_voxels must be >= 0")
        need(self.max_iterations >= 1, "max_iterations must be >= 1")
        need(self.window_sigma > 0, "window_sigma must be > 0")
        need(0 < self.vote_threshold <= 1, "vote_threshold must lie in (0, 1]")
        need(self.min_cluster_voxels >= 0, "min_cluster_voxels must be >= 0")
        need(self.max_center_distance_px > 0, "max_center_distance_px must be > 0")
        need(self.location_filter in ("centre", "chest"), "location_filter must be centre or chest")
        need(0 <= self.defect_search_mm <= 50, "defect_search_mm must lie in [0, 50]")
        need(self.reference_size is None or self.reference_size >= 1, "reference_size must be >= 1 or null")
        need(self.batch_size >= 1 and self.window_batch >= 1, "batch_size and window_batch must be >= 1")

    @property
    def low_threshold(self) -> float:
        return self.high_threshold * self.low_ratio

    def scale_for(self, input_size: int) -> float:
        """In-plane scale from the paper's 512-px pixel units to the classifier's input pixels."""
        return 1.0 if self.reference_size is None else input_size / self.reference_size

    def neighbourhood_zyx(self, input_size: int) -> tuple[int, int, int]:
        """The hysteresis neighbourhood as (z, y, x) sizes at ``input_size``, odd so that it is centred."""
        scale = self.scale_for(input_size)
        x, y, z = self.neighbourhood
        return (_odd(z), _odd(max(1, round(y * scale))), _odd(max(1, round(x * scale))))

    def min_new_voxels_at(self, input_size: int) -> int:
        return int(round(self.min_new_voxels * self.scale_for(input_size) ** 2))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["neighbourhood"] = list(self.neighbourhood)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "ExplainParams":
        if not isinstance(data, dict):
            raise InputError("explain parameters must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown explain parameters {unknown} (known: {', '.join(sorted(known))})")
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise InputError(f"explain parameters: {error}") from error

    @classmethod
    def from_json_file(cls, path: str | Path) -> "ExplainParams":
        return cls.from_dict(read_json(path, "parameter file"))

    def replace(self, **changes) -> "ExplainParams":
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return ExplainParams.from_dict(data)


# Attribution presets: how much Integrated Gradients voting a run spends. The values live here, beside the defaults
# "paper" is made of, so that params_for_model can apply one; how a run chooses a preset and reports it is
# :mod:`.presets`, which imports these (never the other way round).
PRESET_FIELDS = ("n_steps", "references", "smoothgrad_samples")
PRESETS = {
    "paper": {name: getattr(ExplainParams(), name) for name in PRESET_FIELDS},
    "fast": {"n_steps": 8, "references": ["zero", "blur"], "smoothgrad_samples": 2},
}


def preset_values(name: str) -> dict:
    """The fields preset ``name`` sets; an unknown name is refused."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (use {' or '.join(PRESETS)})")
    return PRESETS[name]


def params_for_model(card: dict | None = None, params_file: str | Path | None = None,
                     overrides: dict | None = None, preset: str | None = None) -> ExplainParams:
    """The parameters a run uses: paper defaults, then the classifier card's ``explain`` section (h tuned for that
    classifier by ``tune-threshold``), then an attribution preset (``paper``/``fast``, :data:`PRESETS`), then a
    parameter file, then explicit overrides (None values ignored)."""
    params = ExplainParams()
    from_card = (card or {}).get("explain")
    if from_card is not None:  # a malformed section is refused, never skipped for the paper defaults
        if not isinstance(from_card, dict):
            raise InputError(f"the model card's 'explain' section must be a JSON object, found {from_card!r}")
        known = set(params.to_dict())  # cards read from disk are checked field by field in modelfile.read_card
        params = params.replace(**{k: v for k, v in from_card.items() if k in known})
    if preset is not None:
        params = params.replace(**preset_values(preset))
    if params_file:
        params = params.replace(**ExplainParams.from_json_file(params_file).to_dict())
    return params.replace(**(overrides or {}))


def _odd(value: int) -> int:
    return int(value) if int(value) % 2 == 1 else int(value) + 1
