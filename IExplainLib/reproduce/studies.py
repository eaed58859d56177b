"""The studies a reproduce run learns from: phantoms made in parallel on every CPU core, or a dataset folder
(dataset.json or the RSPECT layout), split by role.

Roles: ``train`` (the classifier's slice labels; iExplain pseudo-labels them; the WSL segmenter trains on those),
``finetune`` (a few studies with voxel truth: finetuning against random init, the paper's Table 5) and ``tune`` (voxel
truth: choosing h). The quality sets (seeds >= 9000) are never among them. Phantom seeds: training from 0,
finetuning from 7000, tuning from 8000 (the range ``tune-threshold`` allows). Everything stays in memory: no NIfTI is
written, so the run needs no SimpleITK (a GPU node without it can run the whole method).
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import InputError
from ..volume import Volume

if TYPE_CHECKING:
    from ..phantoms.study import SyntheticStudy

ROLES = ("train", "finetune", "tune")
FIRST_SEED = {"train": 0, "finetune": 7000, "tune": 8000}


@dataclass
class Study:
    """One study of a role: the CT (loaded on demand for a dataset), slice labels, optional voxel truth."""

    id: str
    role: str
    load: Callable[[], Volume]
    slice_labels: np.ndarray | None
    load_truth: Callable[[], np.ndarray | None]
    origin: str
    has_truth: bool = True
    source: object = None   # the classifier's StudySource (slice labels, or a voxel label to derive them from)

    def classifier_source(self):
        from ..classifier import StudySource

        return self.source or StudySource(self.id, self.load, self.slice_labels, origin=self.origin)


class _Held:
    """A picklable 'return this' (a lambda over a loop variable would capture the last one)."""

    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


def _make_phantom(seed: int, slices: int, size: int, force_positive: bool) -> SyntheticStudy:
    from ..phantoms import make_study

    return make_study(seed, slices=slices, size=size, negative=False if force_positive else None)


def phantom_plan(counts: dict[str, int]) -> list[tuple[str, int, bool]]:
    """(role, seed, forced positive) of every phantom: each role's first study has emboli."""
    return [(role, FIRST_SEED[role] + index, index == 0) for role in ROLES for index in range(counts.get(role, 0))]


def make_phantoms(counts: dict[str, int], slices: int, size: int, deadline: float | None = None,
                  workers: int | None = None, progress=None) -> tuple[list[Study], dict]:
    """The phantoms of every role, made in parallel processes; those not finished by ``deadline`` are dropped,
    except the least a run needs (two training studies and the first of every other role), which are waited for;
    workers still busy then are stopped before this returns, so that no phantom is made while a model trains.
    Returns (studies in plan order, a summary for the report)."""
    plan = phantom_plan(counts)
    workers = max(1, min(workers or os.cpu_count() or 1, len(plan)))
    started = time.monotonic()
    made: dict[tuple[str, int], SyntheticStudy] = {}
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    pool = futures.ProcessPoolExecutor(workers, mp_context=context)
    try:
        jobs = {pool.submit(_make_phantom, seed, slices, size, positive): (role, seed)
                for role, seed, positive in plan}
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            for job in futures.as_completed(jobs, timeout=timeout):
                made[jobs[job]] = job.result()
                if progress:
                    progress("data", len(made) / len(plan), f"phantom seed {jobs[job][1]} ({jobs[job][0]})")
        except futures.TimeoutError:
            needed = [job for job, (role, seed) in jobs.items()
                      if seed - FIRST_SEED[role] < (2 if role == "train" else 1) and (role, seed) not in made]
            for job in needed:
                made[jobs[job]] = job.result()
            for job in jobs:  # phantoms finished while the needed ones were awaited are kept too
                if job.done() and not job.cancelled() and job.exception() is None:
                    made[jobs[job]] = job.result()
    finally:
        _shut_down(pool)
    studies = []
    for role, seed, _ in plan:
        study = made.get((role, seed))
        if study is None:
            continue
        studies.append(Study(f"phantom-{seed}", role, _Held(study.volume),
                             np.asarray(study.slice_labels, dtype=np.float32), _Held(study.truth),
                             f"phantom seed {seed}"))
    summary = {"source": "phantoms", "slices": slices, "size": size, "workers": workers,
               "planned": {role: counts.get(role, 0) for role in ROLES},
               "made": {role: sum(1 for s in studies if s.role == role) for role in ROLES},
               "seeds": {role: [FIRST_SEED[role], FIRST_SEED[role] + counts.get(role, 0) - 1] for role in ROLES
                         if counts.get(role, 0)},
               "seconds": round(time.monotonic() - started, 1),
               "partial": len(studies) < len(plan)}
    return studies, summary


def _shut_down(pool: futures.ProcessPoolExecutor) -> int:
    """Cancel the phantoms not started and stop the workers still making one nobody waits for any more, so that
    they take no core from the phases that follow (the executor has no public call for it: its process table is
    read, where it exists, before shutting down clears it). Returns how many workers were still alive (busy, or
    idle and not yet gone) and were stopped."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    running = [process for process in processes if process.is_alive()]
    for process in running:
        process.terminate()
    for process in running:
        process.join(timeout=10)
    return len(running)


def dataset_studies(root: str | Path, counts: dict[str, int]) -> tuple[list[Study], dict]:
    """A dataset folder's cases by role: the first cases with a voxel label (id order) go to ``finetune`` then
    ``tune``, up to their counts; every other case trains. A dataset without voxel labels (RSPECT as published) has
    no finetuning studies, and h is tuned on phantoms (the caller's choice)."""
    from ..classifier import sources_from_dataset
    from ..datasets import open_dataset

    listed = open_dataset(root)
    cases = sorted(listed, key=lambda case: case.id)
    sources = {source.id: source for source in sources_from_dataset(root)}
    labelled = [case for case in cases if case.label is not None]
    roles: dict[str, str] = {}
    for role in ("finetune", "tune"):
        for case in labelled:
            if sum(1 for r in roles.values() if r == role) >= counts.get(role, 0):
                break
            roles.setdefault(case.id, role)
    studies = []
    for case in cases:
        role = roles.get(case.id, "train")
        labels = case.slice_labels
        if role == "train" and labels is None and case.label is None:
            continue  # nothing to learn from
        truth = _TruthOf(case) if case.label is not None else _Held(None)
        studies.append(Study(str(case.id), role, case.load_image,
                             None if labels is None else np.asarray(labels, dtype=np.float32), truth,
                             str(case.image), case.label is not None, sources.get(str(case.id))))
    if sum(1 for s in studies if s.role == "train") < 2:
        raise InputError(f"dataset {root}: fewer than 2 studies with slice labels to train on")
    summary = {"source": str(root), "layout": listed.layout, "warnings": list(listed.warnings),
               "made": {role: sum(1 for s in studies if s.role == role) for role in ROLES},
               "voxel_labelled": len(labelled), "partial": False}
    return studies, summary


class _TruthOf:
    def __init__(self, case):
        self.case = case

    def __call__(self):
        return self.case.load_label().array


def of_role(studies: list[Study], role: str) -> list[Study]:
    return [study for study in studies if study.role == role]
