"""The reproduce run's ``reducer`` phase: the candidate detector's false-positive reducer trained from the training
studies' slice labels, its score threshold chosen on the tuning studies (the one place voxel truth is read).

Every study's candidates are found in parallel processes. A training study travels to its process as the CT and its
slice labels only (:func:`~IExplainLib.candidates.training_data.prepare_study` takes nothing else), so no voxel truth
can reach the reducer's training; a tuning study also carries its truth, for the threshold
(:func:`~IExplainLib.candidates.train.tuning_study`). Studies not started by the preparation deadline are left out
(the phase is then ``partial``), except the least a reducer needs: two training studies and the first tuning study.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import IExplainError
from .budget import PhaseSkipped
from .scale import Scale
from .studies import Study


def prepare_training(case_id: str, volume, slice_labels: np.ndarray):
    """A training study's candidates and its slice labels (run in a worker process): the CT and slice labels only."""
    from ..candidates.training_data import prepare_study

    return prepare_study(case_id, volume, slice_labels)


def prepare_tuning(case_id: str, volume, slice_labels: np.ndarray, truth: np.ndarray):
    """A tuning study's candidates and which of them touch which embolus (for choosing the threshold only)."""
    from ..candidates.train import tuning_study

    return tuning_study(case_id, volume, slice_labels, truth)


Job = tuple[Callable, Callable[[], tuple]]   # (picklable function, the arguments, made when the job is submitted)


def run_jobs(jobs: list[Job], deadline: float, workers: int, required: int = 0, progress=None,
             errors: dict[int, str] | None = None) -> list:
    """Each job's result (None for one not finished or failed, whose one-line error goes into ``errors``), in
    parallel processes. No job starts after ``deadline``; the first ``required`` jobs are waited for even past it.
    A job's arguments are made only when it is submitted, so that at most ``2 x workers`` studies are held in memory
    at once."""
    results: list = [None] * len(jobs)
    if not jobs:
        return results
    workers = max(1, min(workers, len(jobs)))
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    pool = futures.ProcessPoolExecutor(workers, mp_context=context)
    running: dict = {}
    following = 0
    try:
        while True:
            while following < len(jobs) and len(running) < 2 * workers and \
                    (time.monotonic() < deadline or following < required):
                function, arguments = jobs[following]
                try:
                    running[pool.submit(function, *arguments())] = following
                except (IExplainError, OSError, ValueError) as error:  # a study that cannot be read
                    _note(errors, following, error)
                following += 1
            if not running:
                break
            waiting_for_required = any(index < required for index in running.values())
            timeout = None if waiting_for_required else max(0.0, deadline - time.monotonic())
            finished, _ = futures.wait(running, timeout=timeout, return_when=futures.FIRST_COMPLETED)
            for job in finished:
                index = running.pop(job)
                try:
                    results[index] = job.result()
                except Exception as error:  # one study's failure must not cost the others
                    _note(errors, index, error)
                if progress:
                    progress("reducer", sum(r is not None for r in results) / len(jobs), f"candidates of study "
                             f"{index + 1} of {len(jobs)}")
            if not finished and not waiting_for_required:
                break  # the deadline: the jobs still running are abandoned
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _note(errors: dict[int, str] | None, index: int, error: Exception) -> None:
    if errors is None:
        raise error
    errors[index] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def train_reducer_phase(training: list[Study], tuning: list[Study], scale: Scale, out: Path, deadline: float,
                        workers: int | None = None, command: str = "", progress=None) -> dict:
    """Candidates of every study, then ``train_reducer`` (slice labels only; threshold on ``tuning``) into ``out``.
    ``training``: studies with slice labels; ``tuning``: studies with voxel truth. Returns the phase's figures."""
    from ..candidates.train import ReducerTrainConfig, check_training_studies, train_reducer
    from ..modelfile import read_card

    if not training:
        raise PhaseSkipped("no training study has slice labels (the reducer learns from slice labels only)")
    config = ReducerTrainConfig(architecture=scale.reducer_architecture, supervision=scale.reducer_supervision,
                                epochs=scale.reducer_epochs, bag_min_pe_share=scale.reducer_bag_min_pe_share,
                                bag_leak=scale.reducer_bag_leak, bag_sharpness=scale.reducer_bag_sharpness)
    started = time.monotonic()
    # the first two training studies and the first tuning study before the others: the least a reducer needs
    order = [("train", s) for s in training[:2]] + [("tune", s) for s in tuning] + \
            [("train", s) for s in training[2:]]
    jobs: list[Job] = [(prepare_training, _training_arguments(study)) if role == "train" else
                       (prepare_tuning, _tuning_arguments(study)) for role, study in order]
    # training and writing a features-mlp reducer take seconds; a fifth of the phase (at most two minutes) is kept
    stop = deadline - min(120.0, 0.2 * max(0.0, deadline - started))
    errors: dict[int, str] = {}
    results = run_jobs(jobs, stop, workers or os.cpu_count() or 1, min(2, len(training)) + min(1, len(tuning)),
                       progress, errors)
    prepared = [r for (role, _), r in zip(order, results) if role == "train" and r is not None]
    tuned = [r for (role, _), r in zip(order, results) if role == "tune" and r is not None]
    preparing_s = time.monotonic() - started
    check_training_studies(prepared)
    data = {"source": "iexplain reproduce: the run's training studies (slice labels only)",
            "case_ids": [s.case_id for s in prepared][:200],
            "tuning_studies": {"case_ids": [t.candidates.case_id for t in tuned][:200],
                               "use": "the score threshold only (voxel truth)"}}
    if progress:
        progress("reducer", None, f"training the reducer on {len(prepared)} studies", force=True)
    trained = time.monotonic()
    train_reducer(prepared, config, out, tuning=tuned or None, data=data, command=command, overwrite=True,
                  log=(lambda line: progress("reducer", None, line)) if progress else None)
    card = read_card(out)
    tuning_figures = (card.get("metrics") or {}).get("tuning")
    candidates = int(sum(len(s) for s in prepared))
    return {"model": str(out), "architecture": config.architecture, "supervision": config.supervision,
            "bag_min_pe_share": config.bag_min_pe_share, "bag_leak": config.bag_leak,
            "bag_sharpness": config.bag_sharpness, "epochs": config.epochs,
            "training_studies": len(prepared), "of": len(training),
            "positive_studies": sum(1 for s in prepared if not s.negative), "candidates": candidates,
            "candidates_per_study": round(candidates / max(1, len(prepared)), 1),
            "tuning_studies": len(tuned), "threshold": card["threshold"],
            "threshold_source": "best strict F1 on the tuning studies" if tuning_figures else
                                "0.5 (no tuning study was ready)",
            "tuning": tuning_figures, "seconds_preparing": round(preparing_s, 1),
            "failed_studies": [f"{order[index][1].id}: {message}" for index, message in sorted(errors.items())][:20],
            "seconds_training": round(time.monotonic() - trained, 1),
            "partial": len(prepared) < len(training) or len(tuned) < len(tuning)}


def _training_arguments(study: Study) -> Callable[[], tuple]:
    """The arguments of a training study's job: its id, CT and slice labels (never its truth)."""
    if study.slice_labels is None:
        raise IExplainError(f"training study {study.id} has no slice labels")
    return lambda: (study.id, study.load(), study.slice_labels)


def _tuning_arguments(study: Study) -> Callable[[], tuple]:
    """The arguments of a tuning study's job: id, CT, slice labels (from the truth when absent) and voxel truth."""
    def arguments() -> tuple:
        truth = study.load_truth()
        if truth is None:
            raise IExplainError(f"tuning study {study.id} has no voxel truth")
        labels = study.slice_labels if study.slice_labels is not None else \
            np.asarray(np.asarray(truth > 0).reshape(truth.shape[0], -1).any(axis=1))
        return study.id, study.load(), labels, truth

    return arguments
