"""Stage 1 training: balanced slices, heavy augmentation, per-epoch validation; the hooks
(:class:`ClassifierTraining`) of the training skeleton both trainers share,
:class:`~IExplainLib.training.run.TrainingRun` (AdamW with warmup + linear decay, precision, time limit, checkpoints).

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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, cast

import numpy as np

from .. import __version__
from ..errors import InputError
from ..modelfile import load_state_into
from ..outputs import claim_folder
from ..progress import QUIET, Progress
from ..training import DistributedContext
from ..training.run import TrainingRun
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

LOSS_READ_EVERY = 10    # steps between readings of the loss on a GPU (each reading waits for the GPU)


def default_cache_path(weights: Path) -> Path:
    """The folder beside the model where its training studies are prepared."""
    stem = weights.with_suffix("")
    return stem.with_name(stem.name + ".cache")


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


class ClassifierTraining(TrainingRun[ClassifierTrainConfig]):
    """Stage 1's hooks of the training skeleton (:class:`~IExplainLib.training.run.TrainingRun`): studies split and
    prepared, balanced slices with augmentation, mining at each epoch's start, validation at each epoch's end."""

    def __init__(self, data_root, out: str | Path, spec: ClassifierSpec | None, config: ClassifierTrainConfig, *,
                 init: str | Path | None = None, augment: TrainAugment | bool | None = None,
                 cache_dir: str | Path | None = None, command: str | None = None, **run: Any):
        super().__init__(config, out, **run)
        if spec is not None:
            build_classifier(spec)  # an unknown or unfit backbone is refused before any study is prepared
        self.data_root, self.asked_spec, self.init, self.augment_asked = data_root, spec, init, augment
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_path(self.weights)
        self.command = command or " ".join(sys.argv)
        self.history: list[dict] = []
        self.metrics: dict = {}          # the last validation's
        self.epoch_losses: list[float] = []
        self.pending_losses: list[torch.Tensor] = []  # on a GPU: losses not read yet (no sync every step)

    def resume_settings(self) -> dict:
        return resume_settings(self.asked_spec, self.init, self.config)

    def _plan(self, state: dict | None, by_id: dict) -> None:
        """Resume: the checkpoint's spec, study split, seed and draw phase. Start: ``init``'s weights and spec (or
        the spec asked for), a new split."""
        self.init_weights: dict | None = None
        if state:
            recorded = state["config"]
            missing = set(recorded["train_ids"] + recorded["val_ids"]) - set(by_id)
            if missing:
                raise InputError(f"cannot resume: {len(missing)} studies of the checkpoint's run are missing "
                                 f"from {self.data_root} (e.g. {sorted(missing)[0]})")
            self.report("resume", 0.0, f"resuming from {self.checkpoint} at step {int(state['step'])}")
            self.spec = ClassifierSpec.from_dict(recorded["spec"])
            self.train_ids, self.val_ids = recorded["train_ids"], recorded["val_ids"]
            self.seed, self.draw_phase = recorded["seed"], int(recorded.get("draw_phase", 0))
            self.init_source, self.commands = recorded.get("init"), list(recorded.get("commands", []))
            return
        self.train_ids, self.val_ids = split_studies(list(by_id), self.config.val_fraction, self.config.seed)
        self.seed, self.draw_phase, self.init_source, self.commands = self.config.seed, 0, None, []
        self.spec = self.asked_spec or ClassifierSpec()
        if self.init:
            self.init_weights, self.spec, commands = initial_weights(self.init, self.asked_spec)
            # a run continued from a model draws new slices and augmentations: with the same seed (the same
            # validation studies) it would otherwise replay its parent's stream, sample for sample
            self.draw_phase, self.init_source, self.commands = len(commands), str(self.init), list(commands)

    def prepare(self, state: dict | None) -> int:
        import torch

        config, context = self.config, self.context
        by_id = {source.id: source for source in sources_of(self.data_root)}
        self._plan(state, by_id)
        self.report("prepare", 0.0, f"{len(self.train_ids)} training and {len(self.val_ids)} validation studies")
        with _claimed_cache(self.cache_dir, context, self.report):
            prepared = prepare_all(
                [by_id[i] for i in self.train_ids + self.val_ids], self.spec, self.cache_dir, context.rank,
                context.world_size, context.barrier,
                lambda done, total, name: self.report("prepare", done / total, f"study {name}"))
        self.train_studies, self.val_studies = prepared[:len(self.train_ids)], prepared[len(self.train_ids):]
        self.dataset = SliceDataset(self.train_studies, self.spec, config.crop,
                                    image_centred=config.positive_centres == "image")
        if len(self.dataset) == 0:
            raise InputError("no training slices (every study went to validation?)")
        samples = int(config.samples_per_epoch or len(self.dataset))
        self.sampler = BalancedDistributedSampler(self.dataset.labels, samples, context.rank, context.world_size,
                                                  self.seed, stream=self.draw_phase)
        self.epoch_steps = (samples // context.world_size) // config.batch_size
        if self.epoch_steps < 1:
            raise InputError(f"{samples} samples per epoch make no full batch of {config.batch_size} per process")
        self.steps_per_epoch = self.epoch_steps
        augmenter = (TrainAugment(slices=self.spec.slices, windows=len(self.spec.hu_windows))
                     if self.augment_asked in (None, True) else self.augment_asked or None)
        assert augmenter is not True  # True asks for the default recipe, built just above
        self.augmenter: TrainAugment | None = augmenter
        # DataLoader is annotated to take torch's Dataset; SliceDataset is a map-style dataset (__len__,
        # __getitem__) without that base class, so that importing the classifier package does not import torch
        self.loader: torch.utils.data.DataLoader[tuple[torch.Tensor, float]] = torch.utils.data.DataLoader(
            self.dataset,  # type: ignore[arg-type]
            batch_size=config.batch_size, sampler=self.sampler, drop_last=True, num_workers=config.workers,
            pin_memory=context.device.type == "cuda",
            # on CUDA workers are kept between epochs, except where the dataset changes each epoch (mined hard
            # negatives or evidence positives are set in this process and must reach fresh workers); on the CPU
            # they are not, as before: a kept worker draws no new seed from this process's generator each epoch,
            # which would change the draws of CPU runs with workers
            persistent_workers=context.device.type == "cuda" and config.workers > 0 and not config.hard_negatives
            and config.positive_centres != "evidence")
        self.loss_function = torch.nn.BCEWithLogitsLoss()
        self.record = {
            "spec": self.spec.to_dict(), "train_ids": self.train_ids, "val_ids": self.val_ids, "seed": self.seed,
            "draw_phase": self.draw_phase, "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
            "warmup": config.warmup, "weight_decay": config.weight_decay, "samples_per_epoch": samples,
            "world_size": context.world_size, "crop": config.crop, "hard_negatives": bool(config.hard_negatives),
            "positive_centres": config.positive_centres, "init": self.init_source,
            # every command that contributed to these weights: resumed phases and, with --init, the commands
            # that made the initial model
            "commands": self.commands + [self.command]}
        return self.epoch_steps * config.epochs

    def build_model(self) -> torch.nn.Module:
        import torch

        torch.manual_seed(self.seed)  # same initial weights in every process (DDP also broadcasts rank 0's)
        model = build_classifier(self.spec).to(self.context.device)
        if self.config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.init_weights is not None:
            load_state_into(model, self.init_weights, self.init_source or "the initial model")
        return model

    def restore(self, state: dict) -> None:
        self.history = list(state.get("history", []))
        self.metrics = self.history[-1]["validation"] if self.history else {}

    def seed_draws(self) -> None:
        import torch

        # a fresh run, or a rank other than the main one: its own augmentation draws
        torch.manual_seed(self.seed * 7919 + 1000 * self.context.rank + self.step + 1 + 104729 * self.draw_phase)

    def checkpoint_extras(self) -> dict:
        return {"config": self.record, "history": self.history}

    def batches(self, epoch: int, done_in_epoch: int) -> Iterable:
        config, context = self.config, self.context
        self.sampler.set_epoch(epoch, skip=done_in_epoch * config.batch_size)
        if config.hard_negatives:
            self.report("mine", 0.0, f"epoch {epoch + 1}/{config.epochs}: hard negatives")
            self.dataset.set_hard_negatives(mine_hard_negatives(self.model, self.train_studies, self.spec,
                                                                context.device, config.batch_size * 2))
        if config.positive_centres == "evidence":
            self.report("mine", 0.0, f"epoch {epoch + 1}/{config.epochs}: where the PE slices' evidence lies")
            self.dataset.set_evidence_positives(mine_evidence(self.model, self.train_studies, self.spec,
                                                              context.device, config.batch_size * 2, positive=True))
        self.network.train()
        self.epoch_losses = []
        return self.loader

    def loss_of(self, batch) -> torch.Tensor:
        import torch

        inputs, labels = batch
        inputs = inputs.to(self.context.device, non_blocking=True)
        labels = labels.to(self.context.device, dtype=torch.float32).view(-1, 1)
        if self.augmenter is not None:
            inputs = self.augmenter(inputs)
        if self.config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with self.precision.autocast():
            return self.loss_function(self.network(inputs).float(), labels)

    def log_step(self, epoch: int, loss: torch.Tensor) -> None:
        self.pending_losses.append(loss.detach())
        if self.context.device.type == "cuda" and self.step % LOSS_READ_EVERY and self.step % self.epoch_steps:
            return  # on a GPU the losses are read every LOSS_READ_EVERY steps and at an epoch's end, not each step
        self._read_losses()
        self.report("train", (self.step % self.epoch_steps or self.epoch_steps) / self.epoch_steps,
                    f"epoch {epoch + 1}/{self.config.epochs}", step=self.step,
                    loss=float(np.mean(self.epoch_losses[-20:])), lr=self.scheduler.get_last_lr()[0])

    def _read_losses(self) -> None:
        """The losses kept on the device since the last reading, as numbers (one sync for all of them)."""
        if self.pending_losses:
            import torch

            self.epoch_losses += torch.stack(self.pending_losses).float().tolist()
            self.pending_losses = []

    def end_epoch(self, epoch: int) -> None:
        self._read_losses()  # a deadline may end an epoch between readings
        self.metrics = validate(self.model, self.val_studies, self.spec, self.context, self.config.batch_size * 2)
        self.history.append({"epoch": epoch + 1, "step": self.step,
                             "train_loss": self.context.mean(float(np.mean(self.epoch_losses))),
                             "validation": self.metrics})
        self.report("validate", 1.0, f"epoch {epoch + 1}/{self.config.epochs}", loss=self.history[-1]["train_loss"],
                    **{k: self.metrics[k] for k in ("auroc", "f1", "threshold") if k in self.metrics})

    def card(self) -> dict:
        """Architecture, input, HU windows, threshold, every phase's command, data, metrics."""
        spec, config, record, metrics = self.spec, self.config, self.record, self.metrics
        final_spec = replace(spec, threshold=float(metrics.get("threshold", spec.threshold)))
        val_ids = record["val_ids"]
        return {"kind": "classifier", "architecture": spec.backbone, "spec": final_spec.to_dict(),
                "input_size": spec.input_size, "hu_windows": [list(w) for w in spec.hu_windows],
                "threshold": final_spec.threshold, "iexplain_version": __version__,
                "channel_order": "window-major: channel = window * slices + (slice offset + slices // 2)",
                "training": {"data": describe_data(self.data_root),
                             "command": record["commands"][-1], "commands": record["commands"],
                             "train_studies": len(record["train_ids"]), "validation_studies": len(val_ids),
                             **({"initial_weights": str(record["init"])} if record.get("init") else {}),
                             "steps": self.step, "world_size": self.context.world_size, **self.run_facts(),
                             "channels_last": bool(config.channels_last), **{k: record[k] for k in (
                                 "epochs", "batch_size", "lr", "warmup", "weight_decay", "samples_per_epoch",
                                 "seed", "draw_phase", "crop", "hard_negatives", "positive_centres")},
                             "validation_ids": val_ids if len(val_ids) <= 500 else val_ids[:500]},
                "metrics": {"validation": metrics, "train_loss": [h["train_loss"] for h in self.history]}}

    def written(self, path: Path) -> None:
        cast(Progress, self.report).done(f"model written to {path}",
                         **{k: self.metrics[k] for k in ("auroc", "f1") if k in self.metrics})


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
    The run is :class:`ClassifierTraining`, the training skeleton's classifier hooks.
    """
    run = ClassifierTraining(data_root, out, spec, _config_from(config, settings), init=init, augment=augment,
                             cache_dir=cache_dir, command=command, checkpoint=checkpoint, device=device,
                             overwrite=overwrite, restart=restart, deadline=deadline, clock=clock,
                             progress=progress or QUIET, stop_after_steps=stop_after_steps)
    model = run.run()
    result = {"model": model, "metrics": run.metrics, "history": run.history, "step": run.step,
              "stopped": run.stopped}
    if not run.stopped:
        result["time_limit"] = run.budget.as_dict() if deadline is not None else None
    return result
