"""The fixed held-out sets of ``iexplain quality``: defined here once, so that every run scores the same studies.

Every study is regenerated from its seed (nothing is downloaded), and every seed is >= 9000: the project trains on
seeds below 9000 and tunes the explainer's threshold on 8000-8999 (``study_sets.TUNING_SEEDS``), so no figure of the
quality report comes from a study any model or setting was fitted on. PE-positive and PE-negative studies are
forced by flag, not drawn by the seed, so each set holds exactly the studies its definition lists.

The real chest CT (the POPI thorax, 141 slices, no IV contrast) is found under ``$IEXPLAIN_REAL_CT`` or the
project's ``../shared/data/real-ct`` (the folder the test-suite reads); a set that needs it is skipped, with the
reason in the report, where it is absent.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..volume import Volume
from .study_sets import HELD_OUT_FIRST_SEED, EvaluationStudy

POPI_FOLDER = "popi_4dct_phase00_chest_ct"


def real_ct_root() -> Path:
    """``$IEXPLAIN_REAL_CT``, else ``../shared/data/real-ct`` beside the project (as ``Testing/conftest.py``)."""
    return Path(os.environ.get("IEXPLAIN_REAL_CT", Path(__file__).resolve().parents[2].parent / "shared" / "data"
                               / "real-ct"))


@dataclass(frozen=True)
class QualitySet:
    """One held-out set. ``kind``: ``synthetic`` (phantoms from ``make_study``), ``real-anatomy`` (clots inserted
    into the real CT, a slab of ``slices`` per seed) or ``real-ct`` (the real CT itself, read as it is; ``slices``
    crops a central slab, None keeps the whole series)."""

    name: str
    kind: str
    description: str
    positive_seeds: tuple[int, ...] = ()
    negative_seeds: tuple[int, ...] = ()
    slices: int | None = None
    size: int = 512                     # in-plane pixels of synthetic phantoms
    anatomy_slices: int | None = None   # real-anatomy: analyse only this central slab of the real CT (quick runs)

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.positive_seeds + self.negative_seeds

    @property
    def studies(self) -> int:
        return len(self.seeds) if self.kind != "real-ct" else 1

    @property
    def needs_real_ct(self) -> bool:
        return self.kind in ("real-anatomy", "real-ct")

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


FULL_SETS: tuple[QualitySet, ...] = (
    QualitySet("synthetic", "synthetic", "synthetic phantoms, 512x512x64, 4 with emboli and 2 PE-negative",
               positive_seeds=(9300, 9301, 9302, 9303), negative_seeds=(9304, 9305), slices=64, size=512),
    QualitySet("real-anatomy", "real-anatomy", "CTPA contrast inserted into the real POPI chest CT (slabs of 48 "
               "slices, 512x512, 0.98 mm, 2 mm slices): 4 with clots as filling defects and 2 PE-negative",
               positive_seeds=(9400, 9401, 9402, 9403), negative_seeds=(9404, 9405), slices=48),
    QualitySet("negative", "synthetic", "PE-negative synthetic phantoms, 512x512x64",
               negative_seeds=(9500, 9501, 9502), slices=64, size=512),
    QualitySet("no-contrast", "real-ct", "the real POPI chest CT as it is: 141 slices, no IV contrast, no embolus "
               "(not a CT angiogram)"),
)

# Tiny versions of the same sets (the same seeds, far fewer voxels) for the test-suite and smoke runs: the figures
# mean nothing, the code path is the full one.
QUICK_SETS: tuple[QualitySet, ...] = (
    QualitySet("synthetic", "synthetic", "synthetic phantoms, 64x64x8 (quick)",
               positive_seeds=(9300,), negative_seeds=(9304,), slices=8, size=64),
    QualitySet("real-anatomy", "real-anatomy", "contrast and clots inserted into a 16-slice slab of the POPI CT, "
               "8-slice slabs, one with clots and one PE-negative (quick)", positive_seeds=(9400,),
               negative_seeds=(9404,), slices=8, anatomy_slices=16),
    QualitySet("negative", "synthetic", "PE-negative synthetic phantom, 64x64x8 (quick)",
               negative_seeds=(9500,), slices=8, size=64),
    QualitySet("no-contrast", "real-ct", "8 central slices of the POPI chest CT as it is (quick)", slices=8),
)


def quality_sets(quick: bool = False) -> tuple[QualitySet, ...]:
    return QUICK_SETS if quick else FULL_SETS


def check_held_out(sets: tuple[QualitySet, ...]) -> None:
    """Every seed held out (>= 9000) and used once within a run (a study counted in two sets would weigh twice)."""
    seeds = [seed for item in sets for seed in item.seeds]
    low = [seed for seed in seeds if seed < HELD_OUT_FIRST_SEED]
    if low:
        raise ValueError(f"quality sets use seeds {low} below the held-out range (>= {HELD_OUT_FIRST_SEED})")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ValueError(f"quality sets use seeds {repeated} twice")


check_held_out(FULL_SETS)
check_held_out(QUICK_SETS)


def central_slab(volume: Volume, slices: int | None) -> Volume:
    """The central ``slices`` slices of a volume (all of them for None), geometry kept."""
    from ..phantoms.real_anatomy import crop_slices

    if slices is None or slices >= volume.shape[0]:
        return volume
    start = (volume.shape[0] - slices) // 2
    return crop_slices(volume, start, start + slices)


class RealCT:
    """The real chest CT, read once per run and shared by the sets that use it."""

    def __init__(self, root: str | Path | None = None):
        self.path = Path(root or real_ct_root()) / POPI_FOLDER
        self._volume: Volume | None = None
        self._analyses: dict = {}

    @property
    def available(self) -> bool:
        return self.path.is_dir()

    def volume(self) -> Volume:
        if self._volume is None:
            from ..io import read_volume

            self._volume = read_volume(self.path)
        return self._volume

    def anatomy(self, slices: int | None):
        """Lungs and vessels of the real CT (or of its central slab), analysed once."""
        if slices not in self._analyses:
            from ..phantoms.real_anatomy import analyse_anatomy

            self._analyses[slices] = analyse_anatomy(central_slab(self.volume(), slices))
        return self._analyses[slices]


def set_studies(item: QualitySet, real_ct: RealCT) -> Iterator[EvaluationStudy]:
    """The studies of one set, generated from their seeds (positive ones first)."""
    flags = [(seed, False) for seed in item.positive_seeds] + [(seed, True) for seed in item.negative_seeds]
    if item.kind == "synthetic":
        from ..phantoms import make_study

        for seed, negative in flags:
            assert item.slices is not None  # every synthetic set gives its number of slices
            study = make_study(seed, slices=item.slices, size=item.size, negative=negative)
            yield EvaluationStudy(f"phantom-{seed}", study.volume, study.truth, "phantom", seed)
    elif item.kind == "real-anatomy":
        from ..phantoms.real_anatomy import make_real_anatomy_study

        anatomy = real_ct.anatomy(item.anatomy_slices)
        for seed, negative in flags:
            study = make_real_anatomy_study(anatomy, seed, negative=negative, slices=item.slices)
            yield EvaluationStudy(f"real-anatomy-{seed}", study.volume, study.truth, "real-anatomy", seed)
    elif item.kind == "real-ct":
        volume = central_slab(real_ct.volume(), item.slices)
        yield EvaluationStudy(POPI_FOLDER, volume, np.zeros(volume.shape, dtype=np.uint8), "real-ct")
    else:
        raise ValueError(f"unknown quality set kind {item.kind!r}")
