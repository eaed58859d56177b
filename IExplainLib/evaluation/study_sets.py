"""Evaluation studies with voxel truth: a dataset on disk, or phantoms generated on the fly from seeds.

Generating the held-out set from seeds (``--phantoms N --seed S``) makes a report reproducible by one command with
nothing to download. Seed ranges keep the sets apart: the explainer's threshold is tuned on seeds 8000-8999 and the
ablation is reported on seeds >= 9000, so the reported figures are never the ones that were tuned.
Real-anatomy studies insert contrast and clots into a real chest CT (e.g. the POPI thorax), one per seed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import InputError
from ..volume import Volume

TUNING_SEEDS = range(8000, 9000)
HELD_OUT_FIRST_SEED = 9000

StudyGuard = Callable[[], AbstractContextManager]


class StudyCut(Exception):
    """Raised inside a study's guard (the ``guard`` of ``run_quality``, ``score_segmenters`` and ``tune_threshold``;
    e.g. ``reproduce.budget.cut_at``, at a phase's deadline, from the next network call): the study in flight is
    given up, the studies finished before it are kept, and no other study is started."""


def guarded(guard: StudyGuard | None) -> AbstractContextManager:
    """The context one study runs in: ``guard()``, or nothing."""
    return nullcontext() if guard is None else guard()


@dataclass
class EvaluationStudy:
    case_id: str
    volume: Volume
    truth: np.ndarray  # (z, y, x): instance ids or 0/1
    source: str        # "phantom", "real-anatomy" or "dataset"
    seed: int | None = None


@dataclass
class PhantomSetSpec:
    """How to regenerate a phantom evaluation set: synthetic seeds, then real-anatomy seeds after them."""

    count: int
    seed: int
    slices: int = 48
    size: int = 128
    real_anatomy: str | None = None
    real_anatomy_count: int = 0

    def __post_init__(self):
        if self.count < 0 or self.real_anatomy_count < 0:
            raise InputError("phantom counts must be >= 0")
        if self.count + self.real_anatomy_count == 0:
            raise InputError("the phantom set is empty: give --phantoms N (and/or --real-anatomy-count M)")
        if self.real_anatomy_count and not self.real_anatomy:
            raise InputError("--real-anatomy-count needs --real-anatomy CT (a chest CT file or DICOM folder)")

    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.count + self.real_anatomy_count))

    def to_dict(self) -> dict:
        return {"count": self.count, "seed": self.seed, "slices": self.slices, "size": self.size,
                "real_anatomy": self.real_anatomy, "real_anatomy_count": self.real_anatomy_count,
                "seeds": [self.seed, self.seed + self.count + self.real_anatomy_count - 1]}


def check_seed_range(spec: PhantomSetSpec, allowed: range, purpose: str) -> None:
    """Refuse seeds outside ``allowed``: tuning on held-out seeds would make the reported figures optimistic."""
    seeds = spec.seeds()
    if seeds[0] < allowed.start or seeds[-1] >= allowed.stop:
        raise InputError(f"{purpose} uses phantom seeds {allowed.start}-{allowed.stop - 1}; "
                         f"seeds {seeds[0]}-{seeds[-1]} are outside that range")


def phantom_studies(spec: PhantomSetSpec) -> Iterator[EvaluationStudy]:
    """Synthetic studies first (seeds ``seed .. seed+count-1``), then real-anatomy ones (the next seeds), each a
    slab of ``slices`` slices of the real CT at its own resolution."""
    from ..phantoms import make_study

    for seed in spec.seeds()[: spec.count]:
        study = make_study(seed, slices=spec.slices, size=spec.size)
        yield EvaluationStudy(f"phantom-{seed}", study.volume, study.truth, "phantom", seed)
    if spec.real_anatomy_count:
        from ..phantoms.real_anatomy import analyse_anatomy, load_anatomy, make_real_anatomy_study

        anatomy = analyse_anatomy(load_anatomy(spec.real_anatomy))  # once: lungs and vessels of the real CT
        for seed in spec.seeds()[spec.count:]:
            study = make_real_anatomy_study(anatomy, seed, slices=spec.slices)
            yield EvaluationStudy(f"real-anatomy-{seed}", study.volume, study.truth, "real-anatomy", seed)


def dataset_studies(root: str | Path) -> Iterator[EvaluationStudy]:
    """Cases of a dataset that have a voxel label; refuses a dataset without any."""
    from ..datasets import open_dataset

    cases = [case for case in open_dataset(root) if case.label is not None]
    if not cases:
        raise InputError(f"dataset {root} has no case with a voxel label (needed to measure findings)")
    for case in cases:
        volume = case.load_image()
        label = case.load_label()
        if not volume.same_grid(label, tolerance=1e-3):
            raise InputError(f"case {case.id}: label {case.label} does not overlay image {case.image}")
        yield EvaluationStudy(case.id, volume, np.asarray(label.array), "dataset")


def count_studies(dataset: str | Path | None, spec: PhantomSetSpec | None) -> int:
    if spec is not None:
        return spec.count + spec.real_anatomy_count
    if dataset is None:
        raise InputError("give either a DATASET or --phantoms N (not both)")
    from ..datasets import open_dataset
    return sum(1 for case in open_dataset(dataset) if case.label is not None)


def evaluation_studies(dataset: str | Path | None, spec: PhantomSetSpec | None) -> Iterator[EvaluationStudy]:
    if spec is not None and dataset is None:
        return phantom_studies(spec)
    if dataset is not None and spec is None:
        return dataset_studies(dataset)
    raise InputError("give either a DATASET or --phantoms N (not both)")
