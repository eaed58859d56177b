"""Stage 1 training: AdamW with warmup + linear decay, balanced slices, heavy augmentation, per-epoch validation.

Runs as one process or under ``torchrun`` (DistributedDataParallel, one GPU per process, gloo on CPU). Only rank 0
validates, writes checkpoints and the model. A checkpoint is written every epoch (and every ``checkpoint_every``
steps); a run started again with the same settings continues from it with the same study split, sample order and
step count, so a killed job restarted with the same command carries on where its last checkpoint left it. A
checkpoint of other settings is refused unless ``restart`` (the rule both trainers share:
:mod:`IExplainLib.training.resume`); the checkpoint is removed once the model is written.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .. import __version__
from ..errors import InputError, OutputExistsError
from ..modelfile import load_state_into, model_paths, save_model
from ..outputs import claim_folder
from ..progress import QUIET, Progress
from ..training import (DistributedContext, StepBudget, clean_interrupted_run, init_distributed, save_checkpoint,
                        warmup_linear_decay)
from ..training.resume import SETTINGS_KEY, checkpoint_to_resume
from .augment import TrainAugment
from .backbones import build_classifier
from .config import ClassifierTrainConfig
from .data import PreparedStudy, SliceDataset, StudySource, describe_data, prepare_all, sources_of, split_studies
from .hard_negatives import mine_evidence, mine_hard_negatives
from .inference import predict_slices
from .metrics import validation_metrics
from .sampling import BalancedDistributedSampler
from .spec import ClassifierSpec
from .warm_start import initial_weights

if TYPE_CHECKING:
    import torch


def default_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """(model weights, checkpoint, cache folder) for a model path."""
    weights, _ = model_paths(out)
    stem = weights.with_suffix("")
    return weights, stem.with_name(stem.name + ".checkpoint.pt"), stem.with_name(stem.name + ".cache")


def _amp_context(device: torch.device, enabled: bool):
    import torch

    if not enabled or device.type != "cuda":
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def validate(model: torch.nn.Module, studies: Sequence[PreparedStudy], spec: ClassifierSpec, ctx: DistributedContext,
             batch_size: int) -> dict:
    """Slice metrics over held-out studies (each process scores a share); ``threshold`` maximises F1 there."""
    if not studies:
        return {}
    mine = studies[ctx.rank::ctx.world_size]
    labels = [s.labels for s in mine]
    scores = [predict_slices(model, s.stack, spec, batch_size, ctx.device) for s in mine]
    if ctx.distributed:
        import torch.distributed as dist

        gathered: list[Any] = [None] * ctx.world_size  # all_gather_object puts every rank's (labels, scores) here
        dist.all_gather_object(gathered, (labels, scores))
        labels = [array for part in gathered for array in part[0]]
        scores = [array for part in gathered for array in part[1]]
    return validation_metrics(np.concatenate(scores), np.concatenate(labels))


def resume_settings(spec: ClassifierSpec | None, init, config: ClassifierTrainConfig) -> dict:
    """What a checkpoint must have been made with to be resumed (:mod:`IExplainLib.training.resume`): the spec
    asked for (None: the ``init`` model's own), the initial model and the training settings."""
    asked = spec if spec is not None or init else ClassifierSpec()
    return {"spec": asked.to_dict() if asked is not None else None,
            "init": str(Path(init).resolve()) if init else None, "config": config.fingerprint()}


@contextlib.contextmanager
def _claimed_cache(cache_dir: Path, ctx: DistributedContext, report):
    """Every rank holds the cache folder while it prepares studies there; rank 0 claims it first, so it alone may
    remove the temporaries a killed run left (and only when no other run is using the cache)."""
    with contextlib.ExitStack() as stack:
        if ctx.is_main:
            stack.enter_context(claim_folder(cache_dir, report))
        ctx.barrier()
        if not ctx.is_main:
            stack.enter_context(claim_folder(cache_dir))
        yield


@dataclass
class _Plan:
    """What a run trains: from its checkpoint (``state``), or from scratch or an ``--init`` model."""

    spec: ClassifierSpec
    train_ids: list[str]
    val_ids: list[str]
    seed: int
    draw_phase: int
    state: dict | None = None
    init_weights: dict | None = None
    init: str | None = None
    commands: list[str] = field(default_factory=list)   # of the checkpoint's run or of the --init model
    settings: dict = field(default_factory=dict)        # what resuming must ask for again (resume_settings)


def _plan_run(by_id: dict, data_root, spec: ClassifierSpec | None, config: ClassifierTrainConfig, init,
              checkpoint: Path, restart: bool, report) -> _Plan:
    """Resume (a checkpoint of these settings, unless ``restart``): the checkpoint's spec, study split, seed and
    draw phase. Start: ``init``'s weights and spec (or ``spec``), a new split."""
    # the RNG is restored just before the loop, so that building the model does not consume it
    settings = resume_settings(spec, init, config)
    state = checkpoint_to_resume(checkpoint, settings, restart, restore_rng=False)
    if state:
        recorded = state["config"]
        missing = set(recorded["train_ids"] + recorded["val_ids"]) - set(by_id)
        if missing:
            raise InputError(f"cannot resume: {len(missing)} studies of the checkpoint's run are missing "
                             f"from {data_root} (e.g. {sorted(missing)[0]})")
        report("resume", 0.0, f"resuming from {checkpoint} at step {int(state['step'])}")
        return _Plan(ClassifierSpec.from_dict(recorded["spec"]), recorded["train_ids"], recorded["val_ids"],
                     recorded["seed"], int(recorded.get("draw_phase", 0)), state, init=recorded.get("init"),
                     commands=list(recorded.get("commands", [])), settings=settings)
    initial = initial_weights(init, spec) if init else None
    train_ids, val_ids = split_studies(list(by_id), config.val_fraction, config.seed)
    # a run continued from a model (--init) draws new slices and augmentations: with the same --seed (the same
    # validation studies) it would otherwise replay its parent's stream, sample for sample
    if initial:
        return _Plan(initial[1], train_ids, val_ids, config.seed, len(initial[2]), init_weights=initial[0],
                     init=str(init), commands=list(initial[2]), settings=settings)
    return _Plan(spec or ClassifierSpec(), train_ids, val_ids, config.seed, 0, settings=settings)


@dataclass
class _Trainer:
    """The built run: network, optimiser, schedule, data, and where it stands."""

    ctx: DistributedContext
    spec: ClassifierSpec
    config: ClassifierTrainConfig
    record: dict              # the run's settings as the checkpoint and the card keep them
    model: Any
    network: Any              # model, wrapped for DDP under torchrun
    optimizer: Any
    scheduler: Any
    scaler: Any
    autocast: Callable
    dataset: SliceDataset
    sampler: BalancedDistributedSampler
    loader: Any
    augmenter: TrainAugment | None
    budget: StepBudget
    steps_per_epoch: int
    train_studies: list[PreparedStudy]
    val_studies: list[PreparedStudy]
    checkpoint: Path
    settings: dict            # what resuming must ask for again (resume_settings)
    step: int = 0
    history: list = field(default_factory=list)

    def save(self, epoch_done_steps: int) -> None:
        if self.ctx.is_main:
            payload = {"config": self.record, SETTINGS_KEY: self.settings, "model": self.model.state_dict(),
                       "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                       "step": self.step, "history": self.history, "epoch_step": epoch_done_steps}
            if self.scaler is not None:
                payload["scaler"] = self.scaler.state_dict()
            save_checkpoint(self.checkpoint, payload)


def _build(plan: _Plan, prepared: list[PreparedStudy], config: ClassifierTrainConfig, ctx: DistributedContext,
           augment, checkpoint: Path, command: str | None, deadline: float | None, clock) -> _Trainer:
    import torch

    spec, state = plan.spec, plan.state
    train_studies, val_studies = prepared[:len(plan.train_ids)], prepared[len(plan.train_ids):]
    dataset = SliceDataset(train_studies, spec, config.crop, image_centred=config.positive_centres == "image")
    if len(dataset) == 0:
        raise InputError("no training slices (every study went to validation?)")
    samples = int(config.samples_per_epoch or len(dataset))
    sampler = BalancedDistributedSampler(dataset.labels, samples, ctx.rank, ctx.world_size, plan.seed,
                                         stream=plan.draw_phase)
    steps_per_epoch = (samples // ctx.world_size) // config.batch_size
    if steps_per_epoch < 1:
        raise InputError(f"{samples} samples per epoch make no full batch of {config.batch_size} per process")
    budget = StepBudget(steps_per_epoch * config.epochs, deadline, clock)

    torch.manual_seed(plan.seed)  # same initial weights in every process (DDP also broadcasts rank 0's)
    model = build_classifier(spec).to(ctx.device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = warmup_linear_decay(optimizer, config.warmup, budget, config.final_lr)
    autocast, scaler = _amp_context(ctx.device, config.amp)
    step, history = 0, []
    if not state and plan.init_weights is not None:
        load_state_into(model, plan.init_weights, plan.init or "the initial model")
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        step, history = int(state["step"]), list(state.get("history", []))
    if state and "torch_rng" in state and ctx.is_main:
        torch.set_rng_state(state["torch_rng"])  # rank 0 continues exactly; augmentation draws as before
    else:  # other ranks: their own draws
        torch.manual_seed(plan.seed * 7919 + 1000 * ctx.rank + step + 1 + 104729 * plan.draw_phase)
    augmenter = (TrainAugment(slices=spec.slices, windows=len(spec.hu_windows)) if augment in (None, True)
                 else augment or None)
    assert augmenter is not True  # True asks for the default recipe, built just above
    # DataLoader is annotated to take torch's Dataset; SliceDataset is a map-style dataset (__len__,
    # __getitem__) without that base class, so that importing the classifier package does not import torch
    loader: torch.utils.data.DataLoader[tuple[torch.Tensor, float]] = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=config.batch_size, sampler=sampler, drop_last=True, num_workers=config.workers,
        pin_memory=ctx.device.type == "cuda", persistent_workers=False)
    record = {"spec": spec.to_dict(), "train_ids": plan.train_ids, "val_ids": plan.val_ids, "seed": plan.seed,
              "draw_phase": plan.draw_phase, "epochs": config.epochs, "batch_size": config.batch_size,
              "lr": config.lr, "warmup": config.warmup, "weight_decay": config.weight_decay,
              "samples_per_epoch": samples, "world_size": ctx.world_size, "crop": config.crop,
              "hard_negatives": bool(config.hard_negatives), "positive_centres": config.positive_centres,
              "init": plan.init,
              # every command that contributed to these weights: resumed phases and, with --init, the commands
              # that made the initial model
              "commands": plan.commands + [command or " ".join(sys.argv)]}
    return _Trainer(ctx, spec, config, record, model, ctx.wrap(model), optimizer, scheduler, scaler, autocast,
                    dataset, sampler, loader, augmenter, budget, steps_per_epoch, train_studies, val_studies,
                    checkpoint, plan.settings, step, history)


def _train_epochs(run: _Trainer, report, stop_after_steps: int | None) -> tuple[dict, bool]:
    """The loop: epochs of batches, mining at each epoch start, validation and a checkpoint at each end.
    Returns (the last validation metrics, whether ``stop_after_steps`` cut it)."""
    import torch

    config, ctx, spec = run.config, run.ctx, run.spec
    loss_fn = torch.nn.BCEWithLogitsLoss()
    metrics: dict = run.history[-1]["validation"] if run.history else {}
    while run.step < run.budget.total:
        epoch, in_epoch = divmod(run.step, run.steps_per_epoch)
        run.sampler.set_epoch(epoch, skip=in_epoch * config.batch_size)
        if config.hard_negatives:
            report("mine", 0.0, f"epoch {epoch + 1}/{config.epochs}: hard negatives")
            run.dataset.set_hard_negatives(mine_hard_negatives(run.model, run.train_studies, spec, ctx.device,
                                                               config.batch_size * 2))
        if config.positive_centres == "evidence":
            report("mine", 0.0, f"epoch {epoch + 1}/{config.epochs}: where the PE slices' evidence lies")
            run.dataset.set_evidence_positives(mine_evidence(run.model, run.train_studies, spec, ctx.device,
                                                             config.batch_size * 2, positive=True))
        run.network.train()
        losses: list[float] = []
        for inputs, labels in run.loader:
            inputs = inputs.to(ctx.device, non_blocking=True)
            labels = labels.to(ctx.device, dtype=torch.float32).view(-1, 1)
            if run.augmenter is not None:
                inputs = run.augmenter(inputs)
            if config.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with run.autocast():
                loss = loss_fn(run.network(inputs).float(), labels)
            run.optimizer.zero_grad(set_to_none=True)
            if run.scaler is not None:
                run.scaler.scale(loss).backward()
                run.scaler.step(run.optimizer)
                run.scaler.update()
            else:
                loss.backward()
                run.optimizer.step()
            run.scheduler.step()
            run.step += 1
            losses.append(float(loss.detach()))
            report("train", (run.step % run.steps_per_epoch or run.steps_per_epoch) / run.steps_per_epoch,
                   f"epoch {epoch + 1}/{config.epochs}", step=run.step, loss=float(np.mean(losses[-20:])),
                   lr=run.scheduler.get_last_lr()[0])
            if stop_after_steps is not None and run.step >= stop_after_steps:
                return metrics, True
            if config.checkpoint_every and run.step % config.checkpoint_every == 0 \
                    and run.step % run.steps_per_epoch:
                run.save(run.step % run.steps_per_epoch)
            if run.budget.after_step(run.step):
                break
        metrics = validate(run.model, run.val_studies, spec, ctx, config.batch_size * 2)
        run.history.append({"epoch": epoch + 1, "step": run.step, "train_loss": ctx.mean(float(np.mean(losses))),
                            "validation": metrics})
        report("validate", 1.0, f"epoch {epoch + 1}/{config.epochs}", loss=run.history[-1]["train_loss"],
               **{k: metrics[k] for k in ("auroc", "f1", "threshold") if k in metrics})
        run.save(0)
        ctx.barrier()
    return metrics, False


def _model_card(run: _Trainer, data_root, metrics: dict, deadline: float | None) -> dict:
    """The model card: architecture, input, HU windows, threshold, every phase's command, data, metrics."""
    spec, config, record, ctx = run.spec, run.config, run.record, run.ctx
    final_spec = replace(spec, threshold=float(metrics.get("threshold", spec.threshold)))
    val_ids = record["val_ids"]
    return {"kind": "classifier", "architecture": spec.backbone, "spec": final_spec.to_dict(),
            "input_size": spec.input_size, "hu_windows": [list(w) for w in spec.hu_windows],
            "threshold": final_spec.threshold, "iexplain_version": __version__,
            "channel_order": "window-major: channel = window * slices + (slice offset + slices // 2)",
            "training": {"data": describe_data(data_root),
                         "command": record["commands"][-1], "commands": record["commands"],
                         "train_studies": len(record["train_ids"]), "validation_studies": len(val_ids),
                         **({"initial_weights": str(record["init"])} if record.get("init") else {}),
                         "steps": run.step, "world_size": ctx.world_size, "device": str(ctx.device),
                         **({"time_limit": run.budget.as_dict()} if deadline is not None else {}),
                         "mixed_precision": bool(config.amp and ctx.device.type == "cuda"),
                         "channels_last": bool(config.channels_last), **{k: record[k] for k in (
                             "epochs", "batch_size", "lr", "warmup", "weight_decay", "samples_per_epoch",
                             "seed", "draw_phase", "crop", "hard_negatives", "positive_centres")},
                         "validation_ids": val_ids if len(val_ids) <= 500 else val_ids[:500]},
            "metrics": {"validation": metrics, "train_loss": [h["train_loss"] for h in run.history]}}


def _config_from(config: ClassifierTrainConfig | None, settings: dict) -> ClassifierTrainConfig:
    if config is not None and settings:
        raise InputError(f"give the training settings as a ClassifierTrainConfig or as keywords, not both "
                         f"({', '.join(sorted(settings))})")
    if config is not None:
        return config
    unknown = set(settings) - set(ClassifierTrainConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"train_classifier() got unexpected keyword arguments {sorted(unknown)}")
    return ClassifierTrainConfig(**settings)


def train_classifier(data_root: str | Path | Sequence[str | Path] | Sequence[StudySource], out: str | Path,
                     spec: ClassifierSpec | None = None, config: ClassifierTrainConfig | None = None, *,
                     init: str | Path | None = None, device: str = "auto", restart: bool = False,
                     progress: Progress | None = None, overwrite: bool = False,
                     augment: TrainAugment | bool | None = None, checkpoint: str | Path | None = None,
                     cache_dir: str | Path | None = None, stop_after_steps: int | None = None,
                     command: str | None = None, deadline: float | None = None,
                     clock: Callable[[], float] = time.monotonic, **settings) -> dict:
    """Train a slice classifier on dataset folder(s) (or StudySource objects) and write ``out`` (+ card).

    ``config`` (:class:`~IExplainLib.classifier.config.ClassifierTrainConfig`, validated when made) holds the
    schedule, sampling and patch settings; its fields may instead be given as keywords (``epochs=3, crop=64``).
    Returns ``{"model", "metrics", "history", "step", "stopped"}`` (``model`` is None in torchrun ranks other than
    0, which write nothing); ``stopped`` is True when ``stop_after_steps`` ended the run early (it then writes no
    model, as if killed: the same call again continues from the last checkpoint; ``restart`` discards it).
    ``init`` (a classifier model file) starts from its weights with its spec (``spec`` must then be None or differ
    only in weight-independent settings).
    ``deadline`` (a value of ``clock``, by default ``time.monotonic``; ``time.process_time`` makes it a CPU-time
    budget, as equal-budget experiments need; one process only): the schedule shrinks to the steps that fit
    (:class:`~IExplainLib.training.StepBudget`), the run validates and writes its model on time, and the card says so.
    The run in four steps: :func:`_plan_run` (resume or start), :func:`_build`, :func:`_train_epochs`,
    :func:`_model_card`.
    """
    config = _config_from(config, settings)
    progress = progress or QUIET
    weights, default_checkpoint, default_cache = default_paths(out)
    checkpoint = Path(checkpoint) if checkpoint else default_checkpoint
    cache_dir = Path(cache_dir) if cache_dir else default_cache
    if weights.exists() and not overwrite:
        raise OutputExistsError(f"{weights} exists (use --overwrite to replace it)")
    if spec is not None:
        build_classifier(spec)  # an unknown or unfit backbone is refused before any study is prepared
    ctx = init_distributed(device)
    if deadline is not None and ctx.distributed:
        ctx.close()
        raise InputError("a time limit needs a single process (under torchrun the ranks could stop apart)")
    report = progress if ctx.is_main else QUIET
    try:
        if ctx.is_main:
            clean_interrupted_run([checkpoint, *model_paths(weights)], report)
        sources = sources_of(data_root)
        by_id = {s.id: s for s in sources}
        plan = _plan_run(by_id, data_root, spec, config, init, checkpoint, restart, report)
        report("prepare", 0.0, f"{len(plan.train_ids)} training and {len(plan.val_ids)} validation studies")
        with _claimed_cache(cache_dir, ctx, report):
            prepared = prepare_all(
                [by_id[i] for i in plan.train_ids + plan.val_ids], plan.spec, cache_dir, ctx.rank, ctx.world_size,
                ctx.barrier, lambda done, total, name: report("prepare", done / total, f"study {name}"))
        run = _build(plan, prepared, config, ctx, augment, checkpoint, command, deadline, clock)
        metrics, stopped = _train_epochs(run, report, stop_after_steps)
        if stopped:
            return {"model": None, "metrics": metrics, "history": run.history, "step": run.step, "stopped": True}
        result = {"model": weights if ctx.is_main else None, "metrics": metrics, "history": run.history,
                  "step": run.step, "stopped": False,
                  "time_limit": run.budget.as_dict() if deadline is not None else None}
        if ctx.is_main:
            save_model(weights, run.model.state_dict(), _model_card(run, data_root, metrics, deadline),
                       overwrite=True)
            checkpoint.unlink(missing_ok=True)  # the model is written: the run is over, nothing left to resume
            report.done(f"model written to {weights}", **{k: metrics[k] for k in ("auroc", "f1") if k in metrics})
        ctx.barrier()
        return result
    finally:
        ctx.close()
