"""``iexplain train-reducer``: the false-positive reducer of the candidate detector, trained from slice labels only.

Training studies come from a dataset with slice labels (dataset.json with ``slice_labels`` CSVs, or the RSPECT layout)
or from synthetic phantoms (``--phantoms N --seed S``; their slice labels only). The score threshold is chosen on
tuning phantoms (``--tune-phantoms``, seeds 8000-8999), the one place where voxel truth is read.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import InputError
from .common import add_overwrite, add_progress, command_line, existing_path, progress_from

if TYPE_CHECKING:
    from ..phantoms.study import SyntheticStudy

TUNING_SEEDS = range(8000, 9000)


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train-reducer", help="train the candidate detector's false-positive reducer (slice labels only)",
        description="Finds the candidate filling defects of every training study, trains a reducer on them by "
                    "multiple-instance learning from the studies' slice labels (no voxel truth, no boxes), chooses "
                    "the score threshold on tuning phantoms and writes OUT.safetensors + OUT.json.")
    train.add_argument("dataset", nargs="?", help="dataset with slice labels (dataset.json or RSPECT layout)")
    train.add_argument("-o", "--out", required=True, help="output model (.safetensors)")
    train.add_argument("--phantoms", type=int, default=0, help="train on N synthetic phantoms instead of a dataset")
    train.add_argument("--seed", type=int, default=3000, help="first phantom seed (default 3000)")
    train.add_argument("--size", type=int, default=512, help="phantom in-plane pixels (default 512)")
    train.add_argument("--slices", type=int, default=64, help="phantom slices (default 64)")
    train.add_argument("--tune-phantoms", type=int, default=0,
                       help="choose the score threshold on N tuning phantoms (seeds from --tune-seed)")
    train.add_argument("--tune-seed", type=int, default=8000, help="first tuning seed (8000-8999)")
    train.add_argument("--real-anatomy", type=int, default=0,
                       help="also train on N real-anatomy CT angiograms (contrast and clots inserted into the real "
                            "chest CT of --real-ct; their slice labels only)")
    train.add_argument("--real-anatomy-seed", type=int, default=5000, help="first real-anatomy seed (default 5000)")
    train.add_argument("--real-anatomy-slices", type=int, default=48, help="real-anatomy slab slices (default 48)")
    train.add_argument("--tune-real-anatomy", type=int, default=0,
                       help="also choose the threshold on N real-anatomy tuning studies (seeds from "
                            "--tune-real-anatomy-seed)")
    train.add_argument("--tune-real-anatomy-seed", type=int, default=8100,
                       help="first real-anatomy tuning seed (8000-8999, default 8100)")
    train.add_argument("--real-ct", help="folder holding the real chest CT (default: $IEXPLAIN_REAL_CT or "
                                         "../shared/data/real-ct)")
    train.add_argument("--threshold", type=float, help="score threshold to record instead of tuning one")
    train.add_argument("--cache", help="folder that keeps each study's candidates (reused by later runs)")
    train.add_argument("--architecture", default="rings-mlp",
                       help="rings-mlp (default: the MLP on the hand features and the ring around each candidate, "
                            "the shipped reducer), features-mlp (the hand features alone) or patch-cnn")
    train.add_argument("--supervision", default="mil", help="mil (default) or naive (every candidate on a PE "
                                                           "slice called an embolus; the ablation's comparison)")
    train.add_argument("--bag-min-pe-share", type=float, default=1.0,
                       help="MIL: a candidate joins a PE slice's bag only when this share of its slices are PE "
                            "slices (default 1: an embolus lies within PE slices)")
    train.add_argument("--bag-leak", type=float, default=0.5,
                       help="MIL: the chance that a PE slice's embolus is among none of its candidates (a bag is "
                            "positive with leak + (1 - leak) * its best score; default 0.5, as the shipped reducer)")
    train.add_argument("--bag-sharpness", type=_bag_sharpness, metavar="R|max",
                       help="MIL: a bag's score is the log-mean-exp of its candidates' logits at sharpness R (default "
                            "0.5, as the shipped reducer: every likely member learns), or 'max' (the best candidate's "
                            "alone, the reducers before session 22)")
    train.add_argument("--no-features", action="store_true", help="patch-cnn without the hand features")
    train.add_argument("--epochs", type=int, default=150,
                       help="passes over the training studies (default 150: the best of 30-400 on tuning studies)")
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--width", type=int, default=16, help="patch-cnn channels of the first block")
    train.add_argument("--training-seed", type=int, default=0, help="seed of the training's random draws")
    add_overwrite(train)
    add_progress(train)
    train.set_defaults(func=run_train_reducer)


def _bag_sharpness(text: str) -> float:
    """``--bag-sharpness``: a positive number, or 'max' (infinite sharpness: the bag's best candidate)."""
    if text.strip().lower() == "max":
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number or 'max', got {text!r}")
    return value


def _phantom_study(seed: int, size: int, slices: int):
    from ..phantoms import make_study

    return make_study(seed, slices=slices, size=size)


class _RealAnatomy:
    """The real chest CT's anatomy, analysed once, for real-anatomy CT angiograms made from their seeds."""

    def __init__(self, root: str | None):
        from ..evaluation.quality_sets import RealCT

        self.real_ct = RealCT(root)
        self._anatomy = None

    def study(self, seed: int, slices: int):
        from ..phantoms.real_anatomy import make_real_anatomy_study

        anatomy = self._anatomy
        if anatomy is None:
            if not self.real_ct.available:
                raise InputError(f"real-anatomy studies need the real chest CT; not found at {self.real_ct.path} "
                                 "(give --real-ct or set IEXPLAIN_REAL_CT)")
            anatomy = self._anatomy = self.real_ct.anatomy(None)
        return make_real_anatomy_study(anatomy, seed, slices=slices)


def _training_sources(args, real: _RealAnatomy) -> list[tuple[str, str, Callable[[], SyntheticStudy]]]:
    """(case id, cache stem, maker of the study) of every training phantom and real-anatomy study, in order."""
    sources: list[tuple[str, str, Callable[[], SyntheticStudy]]] = []
    for seed in range(args.seed, args.seed + args.phantoms):
        sources.append((f"phantom-{seed}", f"phantom-{seed}-{args.size}-{args.slices}",
                        partial(_phantom_study, seed, args.size, args.slices)))
    for seed in range(args.real_anatomy_seed, args.real_anatomy_seed + args.real_anatomy):
        sources.append((f"real-anatomy-{seed}", f"real-anatomy-{seed}-{args.real_anatomy_slices}",
                        partial(real.study, seed, args.real_anatomy_slices)))
    return sources


def _training_studies(args, cache: Path | None, progress, real: _RealAnatomy):
    from ..candidates.train import study_candidates_cached
    from ..candidates.training_data import prepare_study

    if args.phantoms or args.real_anatomy:
        seeds = [*range(args.seed, args.seed + args.phantoms),
                 *range(args.real_anatomy_seed, args.real_anatomy_seed + args.real_anatomy)]
        if any(seed in TUNING_SEEDS or seed >= 9000 for seed in seeds):
            raise InputError("training seeds must be below 8000 (8000-8999 tune, 9000 and above are held out)")
        sources = _training_sources(args, real)
        for n, (case_id, stem, build) in enumerate(sources):
            progress("prepare", n / len(sources), f"candidates of {case_id}")

            def make(case_id=case_id, build=build):
                study = build()
                return prepare_study(case_id, study.volume, study.slice_labels)  # slice labels only

            yield study_candidates_cached(cache, stem, make)
        return
    from ..datasets import open_dataset

    cases = [case for case in open_dataset(existing_path(args.dataset, "dataset"))]
    for n, case in enumerate(cases):
        labels = case.slice_labels()
        if labels is None:
            raise InputError(f"case {case.id} has no slice labels (the reducer learns from slice labels)")
        progress("prepare", n / len(cases), f"candidates of {case.id}")

        def make_case(case=case, labels=labels):
            return prepare_study(case.id, case.load_image(), labels)

        yield study_candidates_cached(cache, f"case-{case.id}", make_case)


def _tuning_study(case_id: str, study):
    """A tuning study's candidates and, for choosing the threshold only, which of them touch which embolus."""
    from ..candidates.train import tuning_study

    return tuning_study(case_id, study.volume, study.slice_labels, study.truth, len(study.emboli),
                        [e["level"] for e in study.emboli])


def _tuning_sources(args, real: _RealAnatomy) -> list[tuple[str, str, Callable[[], SyntheticStudy]]]:
    """(case id, cache stem, maker) of every tuning phantom and real-anatomy tuning study."""
    sources: list[tuple[str, str, Callable[[], SyntheticStudy]]] = []
    for kind, first, count in (("phantom", args.tune_seed, args.tune_phantoms),
                               ("real-anatomy", args.tune_real_anatomy_seed, args.tune_real_anatomy)):
        seeds = range(first, first + count)
        if seeds and (seeds[0] not in TUNING_SEEDS or seeds[-1] not in TUNING_SEEDS):
            raise InputError(f"tuning {kind} seeds must be within 8000-8999")
        for seed in seeds:
            if kind == "phantom":
                sources.append((f"phantom-{seed}", f"tune-phantom-{seed}-{args.size}-{args.slices}",
                                partial(_phantom_study, seed, args.size, args.slices)))
            else:
                sources.append((f"real-anatomy-{seed}", f"tune-real-anatomy-{seed}-{args.real_anatomy_slices}",
                                partial(real.study, seed, args.real_anatomy_slices)))
    return sources


def _tuning_studies(args, cache: Path | None, progress, real: _RealAnatomy):
    """The tuning studies (seeds 8000-8999), kept in ``cache`` as ``tune-<case id>-<size>-<slices>.npz`` (phantoms)
    or ``tune-real-anatomy-<seed>-<slices>.npz`` with the truth record beside it (``.truth.json``: per candidate its
    embolus share, per embolus the candidates touching it and its calibre)."""
    from ..candidates.train import TuningStudy
    from ..candidates.training_data import StudyCandidates
    from ..evaluation.froc import ScoredStudy

    sources = _tuning_sources(args, real)
    for n, (case_id, stem, build) in enumerate(sources):
        progress("tune-prepare", n / len(sources), f"candidates of tuning study {case_id}")
        if cache is not None and (cache / f"{stem}.npz").exists() and (cache / f"{stem}.truth.json").exists():
            record = json.loads((cache / f"{stem}.truth.json").read_text())
            data = StudyCandidates.load(cache / f"{stem}.npz")
            yield TuningStudy(data, ScoredStudy(np.zeros(len(data)), np.asarray(record["truth_share"]),
                                                record["emboli"], record["calibres"]))
            continue
        tuning = _tuning_study(case_id, build())
        if cache is not None:
            tuning.candidates.save(cache / f"{stem}.npz")
            (cache / f"{stem}.truth.json").write_text(json.dumps(
                {"truth_share": tuning.truth.truth_share.tolist(), "emboli": tuning.truth.emboli,
                 "calibres": tuning.truth.calibres}))
        yield tuning


def run_train_reducer(args) -> int:
    from ..candidates.train import ReducerTrainConfig, check_cache_rule, check_training_studies, train_reducer
    from ..outputs import check_can_write

    if not str(args.out).endswith(".safetensors"):
        raise InputError(f"output {args.out} must end with .safetensors")
    if bool(args.phantoms or args.real_anatomy) == bool(args.dataset):
        raise InputError("give either a DATASET or --phantoms N / --real-anatomy N")
    if min(args.phantoms, args.tune_phantoms, args.real_anatomy, args.tune_real_anatomy) < 0:
        raise InputError("--phantoms, --tune-phantoms, --real-anatomy and --tune-real-anatomy must be >= 0")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise InputError("--threshold must be in [0, 1]")
    check_can_write(Path(args.out), args.overwrite)
    check_can_write(Path(args.out).with_suffix(".json"), args.overwrite)
    sharpness = {} if args.bag_sharpness is None else \
        {"bag_sharpness": None if args.bag_sharpness == float("inf") else args.bag_sharpness}
    config = ReducerTrainConfig(args.architecture, args.supervision, args.epochs, args.lr, args.training_seed,
                                args.width, not args.no_features, args.bag_min_pe_share, args.bag_leak, **sharpness)
    progress = progress_from(args)
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        check_cache_rule(cache)
    real = _RealAnatomy(args.real_ct)
    studies = list(_training_studies(args, cache, progress, real))
    check_training_studies(studies)
    tunes = args.tune_phantoms or args.tune_real_anatomy
    tuning = list(_tuning_studies(args, cache, progress, real)) if tunes and args.threshold is None else None
    data: dict = {}
    if args.dataset:
        data["dataset"] = str(Path(args.dataset).resolve())
    if args.phantoms:
        data["phantoms"] = {"seeds": [args.seed, args.seed + args.phantoms - 1], "size": args.size,
                            "slices": args.slices}
    if args.real_anatomy:
        data["real_anatomy"] = {"seeds": [args.real_anatomy_seed, args.real_anatomy_seed + args.real_anatomy - 1],
                                "slices": args.real_anatomy_slices, "anatomy": str(real.real_ct.path)}
    if tuning and args.tune_phantoms:
        data["tuning_phantoms"] = {"seeds": [args.tune_seed, args.tune_seed + args.tune_phantoms - 1]}
    if tuning and args.tune_real_anatomy:
        data["tuning_real_anatomy"] = {"seeds": [args.tune_real_anatomy_seed,
                                                 args.tune_real_anatomy_seed + args.tune_real_anatomy - 1]}
    weights = train_reducer(studies, config, args.out, tuning=tuning, threshold=args.threshold, data=data,
                            command=command_line(args, ("dataset",) if args.dataset else ()),
                            overwrite=args.overwrite, log=lambda line: progress("train", None, line))
    progress.done(f"reducer written to {weights}")
    return 0
