"""What a slice classifier is: its architecture and the exact input it was trained on.

The spec travels inside the model card (``card["spec"]``), so a model is always fed the slices, HU windows and
in-plane size it was made for.

Channel layout (window-major): channel ``c`` holds HU window ``c // slices`` of the slice at offset
``c % slices - slices // 2`` from the centre slice. With the default single window the channels are simply the 7
consecutive slices, lowest array z index first (the reader sorts slices by position along the slice normal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import InputError

DEFAULT_BACKBONE = "iexplain_efficientnetv2_tiny"
# PE / CTPA window: contrast-filled arteries (~250-450 HU) bright, emboli (~20-90 HU) grey, lung black.
DEFAULT_HU_WINDOWS = ((100.0, 700.0),)
EDGE_MODES = ("replicate",)
POOL_TYPES = ("max", "avg", "avgmax", "catavgmax")
REGIONS = (None, "chest")


@dataclass
class ClassifierSpec:
    backbone: str = DEFAULT_BACKBONE
    slices: int = 7
    input_size: int = 128
    hu_windows: list[tuple[float, float]] = field(
        default_factory=lambda: [(low, high) for low, high in DEFAULT_HU_WINDOWS])
    global_pool: str = "max"
    threshold: float = 0.5
    edge: str = "replicate"
    drop_rate: float = 0.2
    # Side of the central square (mm) the classifier looks at; None = the whole slice. A fixed physical field
    # keeps the pixel size the same for every scanner field of view, so small clots stay visible at a modest input
    # size; 224 mm matches the paper's distance filter (160 px of a 512 px, ~0.7 mm slice from the centre).
    field_of_view_mm: float | None = None
    # "chest": everything outside the lungs and mediastinum (and all bone) is set to 0 before the network sees it
    # (``IExplainLib.chest_region``); None: the whole slice.
    region: str | None = None

    def __post_init__(self):
        self.hu_windows = [(float(c), float(w)) for c, w in self.hu_windows]
        self.slices = int(self.slices)
        self.input_size = int(self.input_size)
        self.threshold = float(self.threshold)
        if self.slices < 1 or self.slices % 2 == 0:
            raise InputError(f"slices must be an odd number >= 1 (the centre slice is the label), got {self.slices}")
        if self.input_size < 16:
            raise InputError(f"input size must be at least 16 pixels, got {self.input_size}")
        if not self.hu_windows or any(width <= 0 for _, width in self.hu_windows):
            raise InputError(f"HU windows need a positive width, got {self.hu_windows}")
        if self.edge not in EDGE_MODES:
            raise InputError(f"edge mode {self.edge!r} not supported (use one of {EDGE_MODES})")
        if self.global_pool not in POOL_TYPES:
            raise InputError(f"global pool {self.global_pool!r} not supported (use one of {POOL_TYPES})")
        if not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"threshold must lie in [0, 1], got {self.threshold}")
        if self.region not in REGIONS:
            raise InputError(f"region {self.region!r} not supported (use one of {REGIONS})")
        if self.field_of_view_mm is not None:
            self.field_of_view_mm = float(self.field_of_view_mm)
            if self.field_of_view_mm <= 0:
                raise InputError(f"field of view must be positive (mm), got {self.field_of_view_mm}")

    @property
    def channels(self) -> int:
        return self.slices * len(self.hu_windows)

    @property
    def half(self) -> int:
        """Slices on each side of the centre slice."""
        return self.slices // 2

    def channel_layout(self) -> list[tuple[int, int]]:
        """``(slice offset from centre, window index)`` of every input channel, in channel order."""
        return [(s - self.half, w) for w in range(len(self.hu_windows)) for s in range(self.slices)]

    def channel_of(self, offset: int, window: int = 0) -> int:
        """Input channel holding the slice at ``offset`` from the centre in HU window ``window``."""
        if not -self.half <= offset <= self.half or not 0 <= window < len(self.hu_windows):
            raise IndexError(f"no channel for slice offset {offset}, window {window}")
        return window * self.slices + offset + self.half

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hu_windows"] = [list(w) for w in self.hu_windows]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierSpec":
        known = {name for name in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown classifier spec fields {sorted(unknown)} (made by a newer IExplain?)")
        return cls(**data)


def parse_window(text: str) -> tuple[float, float]:
    """``"100,700"`` -> ``(100.0, 700.0)`` (centre, width in HU)."""
    try:
        centre, width = (float(part) for part in text.split(","))
    except ValueError as error:
        raise InputError(f"HU window {text!r} must be CENTRE,WIDTH (e.g. 100,700)") from error
    return centre, width
