"""Training data for the slice classifier: studies with per-slice labels, prepared once into a cache.

Studies come from ``IExplainLib.datasets.open_dataset`` (RSPECT layout or ``dataset.json``) or, from Python, as
:class:`StudySource` objects. Each study is windowed and resampled once (``prepare_study``) and cached as a uint8
``.npy`` file (Z, W, S, S); training reads the 7 slices it needs through a memory map, so datasets larger than memory
train without re-reading DICOM, and a resumed run skips the preparation. Studies are prepared a few at a time in
threads (reading, windowing and resampling release the GIL for most of their time), each on its own, so the cache
holds the same bytes as when they are prepared one after another.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from ..outputs import atomic_output
from ..volume import Volume
from .spec import ClassifierSpec
from .windows import field_of_view, prepare_study, windows_for

CACHE_VERSION = 1


@dataclass
class StudySource:
    """A study to train on: ``load()`` gives its CT; ``slice_labels`` (Z,) 0/1 or ``load_label()`` a voxel mask."""

    id: str
    load: Callable[[], Volume]
    slice_labels: np.ndarray | None = None
    load_label: Callable[[], Volume] | None = None
    origin: str = ""


@dataclass
class PreparedStudy:
    id: str
    stack: np.ndarray  # (Z, W, S, S) uint8 memmap
    labels: np.ndarray  # (Z,) float32 0/1
    points: np.ndarray | None = None  # (N, 3) int (z, y, x) labelled voxels at stack resolution; empty if unknown


MAX_POINTS_PER_SLICE = 64


def _label_points(source: StudySource, spec: ClassifierSpec) -> np.ndarray:
    """Where the voxel label marks PE, as (z, y, x) rows on the S x S stack grid (a sample per slice)."""
    if source.load_label is None:
        return np.zeros((0, 3), np.int16)
    size = spec.input_size
    label = source.load_label()
    mask = field_of_view(label.shape, label.spacing, spec).crop(label.array) > 0
    z, y, x = np.nonzero(mask)
    if not len(z):
        return np.zeros((0, 3), np.int16)
    points = np.unique(np.stack([z, y * size // mask.shape[1], x * size // mask.shape[2]], axis=1), axis=0)
    rng = np.random.default_rng(0)
    kept = [rows if len(rows) <= MAX_POINTS_PER_SLICE else rows[rng.choice(len(rows), MAX_POINTS_PER_SLICE, False)]
            for rows in np.split(points, np.flatnonzero(np.diff(points[:, 0])) + 1)]
    return np.concatenate(kept).astype(np.int16)


def sources_from_dataset(root: str | Path) -> list[StudySource]:
    """Studies of a dataset folder (RSPECT layout or dataset.json), read through ``open_dataset``."""
    from ..datasets import open_dataset

    sources = []
    for case in open_dataset(root):
        labels = case.slice_labels  # None when the case has only a voxel label (or nothing)
        sources.append(StudySource(
            id=str(case.id), load=case.load_image,
            slice_labels=None if labels is None else np.asarray(labels, dtype=np.float32),
            load_label=case.load_label if case.label is not None else None, origin=str(case.image)))
    if not sources:
        raise InputError(f"no studies found in {root}")
    return sources


def split_studies(ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Hold out a fraction of whole studies (never slices of a training study) for validation."""
    ids = sorted(set(ids))
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"validation fraction must lie in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = int(round(len(ids) * val_fraction))
    if val_fraction > 0 and len(ids) >= 2:
        n_val = min(max(1, n_val), len(ids) - 1)
    val = sorted(ids[i] for i in order[:n_val])
    return [i for i in ids if i not in set(val)], val


def _cache_name(study_id: str, spec: ClassifierSpec) -> str:
    fields = {"v": CACHE_VERSION, "size": spec.input_size, "windows": spec.hu_windows}
    if spec.field_of_view_mm is not None:  # only then: caches made before the field of view existed stay valid
        fields["fov"] = spec.field_of_view_mm
    if spec.region is not None:
        fields["region"] = spec.region
    key = json.dumps(fields)
    digest = hashlib.sha1(f"{study_id}|{key}".encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', study_id)[:60]}-{digest}"


def _labels_of(source: StudySource, depth: int) -> np.ndarray:
    if source.slice_labels is not None:
        labels = np.asarray(source.slice_labels, dtype=np.float32).reshape(-1)
        if len(labels) < depth:  # slice-label CSVs may omit trailing negative slices
            labels = np.concatenate([labels, np.zeros(depth - len(labels), np.float32)])
        if len(labels) != depth:
            raise InputError(f"study {source.id}: {len(labels)} slice labels for {depth} slices")
        return labels
    if source.load_label is not None:
        mask = source.load_label().array
        if mask.shape[0] != depth:
            raise InputError(f"study {source.id}: label has {mask.shape[0]} slices, the CT {depth}")
        return np.asarray((mask.reshape(depth, -1) > 0).any(axis=1), dtype=np.float32)
    raise InputError(f"study {source.id} has neither slice labels nor a voxel label to derive them from")


def prepare_one(source: StudySource, spec: ClassifierSpec, cache_dir: Path) -> PreparedStudy:
    """Window and resample one study into the cache (reused when already there)."""
    base = cache_dir / _cache_name(source.id, spec)
    stack_path, label_path = base.with_suffix(".npy"), base.with_suffix(".labels.npy")
    if not (stack_path.exists() and label_path.exists()):
        import torch

        volume = source.load()
        labels = _labels_of(source, volume.shape[0])
        stack = (prepare_study(volume, spec) * 255.0).round_().to(torch.uint8).numpy()
        np.save(label_path, labels)
        with atomic_output(stack_path, overwrite=True) as temporary:  # the stack appears last and whole
            np.save(temporary, stack)
    points_path = base.with_suffix(".points.npy")
    if not points_path.exists():
        np.save(points_path, _label_points(source, spec))
    return PreparedStudy(source.id, np.load(stack_path, mmap_mode="r"), np.load(label_path), np.load(points_path))


PREPARE_WORKERS = 4  # studies prepared at once by default: each holds its CT and float copies in memory


def preparation_workers(workers: int | None, studies: int) -> int:
    """Threads for ``studies`` studies: ``workers``, or by default up to :data:`PREPARE_WORKERS` and the CPUs."""
    if workers is None:
        workers = min(PREPARE_WORKERS, os.cpu_count() or 1)
    if workers < 1:
        raise InputError(f"study preparation needs at least one worker, not {workers}")
    return max(1, min(workers, studies))


def prepare_all(sources: Sequence[StudySource], spec: ClassifierSpec, cache_dir: Path, rank: int = 0,
                world_size: int = 1, barrier: Callable[[], None] = lambda: None,
                report: Callable[[int, int, str], None] | None = None,
                workers: int | None = None) -> list[PreparedStudy]:
    """Prepare every study (each process a share, then all read them all). ``workers``: studies of this process's
    share prepared at once in threads (:func:`preparation_workers`; 1: one after another). Each study is prepared
    alone, so the cache is the same either way; ``report`` is called in the studies' order."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    mine = [(index, source) for index, source in enumerate(sources) if index % world_size == rank]
    count = preparation_workers(workers, len(mine))
    if count == 1:
        for index, source in mine:
            prepare_one(source, spec, cache_dir)
            if report:
                report(index + 1, len(sources), source.id)
    else:
        with ThreadPoolExecutor(count, thread_name_prefix="prepare-study") as pool:
            futures: dict[str, Future] = {}  # by cache file: a study listed twice is prepared once
            try:
                for index, source in mine:
                    name = _cache_name(source.id, spec)
                    if name not in futures:
                        futures[name] = pool.submit(prepare_one, source, spec, cache_dir)
                for index, source in mine:
                    futures[_cache_name(source.id, spec)].result()
                    if report:
                        report(index + 1, len(sources), source.id)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # no study is started after a failure
                raise
    barrier()
    return [prepare_one(source, spec, cache_dir) for source in sources]


class SliceDataset:
    """(study, centre slice) samples -> (model input (C, S, S) float, label) for a torch DataLoader.

    With ``crop`` > 0 a sample is a ``crop`` x ``crop`` patch instead: on a PE slice around a labelled voxel (when
    the study has a voxel label); elsewhere around a random contrast-filled (bright) pixel half of the time, so
    negatives show vessels too, and anywhere in the slice otherwise. The network is fully convolutional with global
    pooling, so it scores whole slices at inference; patches tell it *where* the evidence is, which whole-slice
    labels cannot, and cost a fraction of a full slice. After :meth:`set_hard_negatives` half of the negative patches
    are centred where the current network sees the most PE evidence in that slice (see ``hard_negatives``).
    """

    BRIGHT = 153  # 0.6 of the first window: contrast-filled vessels in the default (100, 700) window

    def __init__(self, studies: Sequence[PreparedStudy], spec: ClassifierSpec, crop: int = 0,
                 image_centred: bool = False):
        self.studies = list(studies)
        self.spec = spec
        self.crop = int(crop)
        if self.crop and not 16 <= self.crop <= spec.input_size:
            raise InputError(f"crop must lie between 16 and the input size {spec.input_size}, got {self.crop}")
        self.index = np.array([(s, z) for s, study in enumerate(self.studies) for z in range(len(study.labels))],
                              dtype=np.int64).reshape(-1, 2)
        self.labels = np.concatenate([study.labels for study in self.studies]) if self.studies else np.zeros(0)
        self.hard_negatives: list[dict] | None = None
        self.evidence_positives: list[dict] | None = None
        self.image_centred = bool(image_centred)  # PE patches on image candidates (image_centres): slice labels only
        self._candidates: dict[tuple[int, int], np.ndarray] = {}

    def set_evidence_positives(self, mined: list[dict] | None) -> None:
        """Per study {PE slice: (y, x)} from :func:`hard_negatives.mine_evidence` (``positive=True``), or None: PE
        patches are then centred where the network places the clot, and the voxel truth is not used."""
        if mined is not None and len(mined) != len(self.studies):
            raise ValueError("one evidence map per training study is needed")
        self.evidence_positives = mined

    def set_hard_negatives(self, mined: list[dict] | None) -> None:
        """Per study {negative slice: (y, x)} from :func:`hard_negatives.mine_hard_negatives`, or None."""
        if mined is not None and len(mined) != len(self.studies):
            raise ValueError("one hard-negative map per training study is needed")
        self.hard_negatives = mined

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int):
        study_index, z = self.index[item]
        study = self.studies[study_index]
        window = windows_for(study.stack, [int(z)], self.spec)[0]
        label = float(study.labels[z])
        if self.crop:
            window = self._crop(window, int(study_index), int(z), label > 0.5)
        return window, label

    def _crop(self, window, study_index: int, z: int, positive: bool):
        import torch

        study = self.studies[study_index]
        size, crop = window.shape[-1], self.crop
        guided = self.evidence_positives is not None
        truth = positive and study.points is not None and not guided and not self.image_centred
        points = study.points[study.points[:, 0] == z] if truth and study.points is not None else ()
        hard = None if positive or self.hard_negatives is None else self.hard_negatives[study_index].get(z)
        evidence = (self.evidence_positives[study_index].get(z)
                    if positive and self.evidence_positives is not None else None)
        candidates = self._image_candidates(study_index, z) if positive and self.image_centred else ()
        target = None  # a place to aim at, jittered so that the clot is not always in the patch's centre
        if evidence is not None:
            target = np.asarray(evidence)
        elif len(candidates):
            target = candidates[int(torch.randint(len(candidates), ()))]
        elif len(points):
            target = points[int(torch.randint(len(points), ()))][1:]
        elif hard is not None and torch.rand(()) < 0.5:
            target = np.asarray(hard)
        if target is not None:
            centre = target.astype(np.int64) + torch.randint(-crop // 4, crop // 4 + 1, (2,)).numpy()
        elif torch.rand(()) < 0.5:  # anywhere: whole slices are scored at inference, so nothing may be unseen
            centre = torch.randint(size, (2,)).numpy()
        else:
            bright = np.flatnonzero(np.asarray(study.stack[z, 0]) >= self.BRIGHT)
            flat = bright[int(torch.randint(len(bright), ()))] if len(bright) else int(torch.randint(size * size, ()))
            centre = np.array(divmod(int(flat), size))
        y0, x0 = np.clip(centre - crop // 2, 0, size - crop)
        return window[:, y0:y0 + crop, x0:x0 + crop]

    def _image_candidates(self, study_index: int, z: int) -> np.ndarray:
        from .image_centres import defect_candidates

        key = (study_index, z)
        if key not in self._candidates:
            self._candidates[key] = defect_candidates(self.studies[study_index].stack[z, 0], self.spec.hu_windows[0])
        return self._candidates[key]


def _is_paths(data) -> bool:
    return isinstance(data, (str, Path)) or (isinstance(data, (list, tuple)) and bool(data)
                                             and all(isinstance(d, (str, Path)) for d in data))


def sources_of(data) -> list[StudySource]:
    """Studies of one dataset folder, of several (ids prefixed by the folder name), or given directly."""
    if isinstance(data, (str, Path)):
        return sources_from_dataset(data)
    if _is_paths(data):
        sources = []
        for root in data:
            for source in sources_from_dataset(root):
                source.id = f"{Path(root).name}/{source.id}"
                sources.append(source)
        if len({s.id for s in sources}) != len(sources):
            raise InputError("two datasets share a folder name and case ids; rename one folder")
        return sources
    return list(data)


def describe_data(data) -> str | list[str]:
    if isinstance(data, (str, Path)):
        return str(data)
    return [str(d) for d in data] if _is_paths(data) else "in-memory studies"
