"""Stage 3 training: balanced patches, augmentation + Mixup, the soft-label Generalized Dice loss. The run around
them (AdamW with warmup and linear decay, mixed precision on GPU, torchrun DDP, time limit, checkpoints) is the
training skeleton both trainers share, :class:`~IExplainLib.training.run.TrainingRun`; this module supplies its
hooks (:class:`SegmenterTraining`).

Resuming: a checkpoint (``<out>.checkpoint.pt`` unless named) holds model, optimizer, schedule, step and every
random state (patch sampler, augmentation generator, torch), so a killed run started again with the same command
continues where its last checkpoint left off and ends with the same kind of model; one with other settings is refused
unless ``restart`` (the rule both trainers share: :mod:`IExplainLib.training.resume`). The checkpoint is removed once
the model file is written.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import InputError
from ..progress import QUIET
from ..training.run import TrainingRun
from .augment import AugmentConfig, augment_batch
from .spec import (ARCHITECTURE, SegmenterSpec, build_network, complete_state_dict, count_parameters,
                   portable_state_dict)

if TYPE_CHECKING:
    import torch

LOSS_READ_EVERY = 10    # steps between readings of the loss on a GPU (each reading waits for the GPU)


@dataclass
class TrainConfig:
    iterations: int = 50000
    batch_size: int = 32            # global: split over torchrun processes
    lr: float = 1e-4
    warmup: int = 1000
    final_lr: float = 1e-7
    weight_decay: float = 1e-2
    positive_fraction: float = 0.5
    checkpoint_every: int = 500
    seed: int = 0
    amp: bool = True                # on CUDA only
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:  # refused when made, as MONAI validates constructor arguments
        if self.iterations < 1 or self.batch_size < 1 or not self.lr > 0 or self.warmup < 0:
            raise InputError("iterations and batch size must be >= 1, lr > 0 and warmup >= 0")
        if not 0 <= self.positive_fraction <= 1:
            raise InputError("--positive-fraction must lie in [0, 1]")
        if self.checkpoint_every < 1 or self.final_lr < 0 or self.weight_decay < 0:
            raise InputError("the checkpoint interval must be >= 1, final lr and weight decay not negative")

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed (not the checkpoint interval)."""
        data = asdict(self)
        data.pop("checkpoint_every")
        return data


def resume_settings(spec: SegmenterSpec, config: TrainConfig) -> dict:
    """What a checkpoint must have been made with to be resumed (:mod:`IExplainLib.training.resume`)."""
    return {"spec": spec.to_card(), "config": config.fingerprint()}


class SegmenterTraining(TrainingRun[TrainConfig]):
    """Stage 3's hooks of the training skeleton (:class:`~IExplainLib.training.run.TrainingRun`): balanced patches
    drawn step by step (no epochs), augmentation and Mixup, the soft-label Generalized Dice loss."""

    def __init__(self, cases, spec: SegmenterSpec, config: TrainConfig, out: str | Path, *, card: dict | None = None,
                 init_state: dict | None = None, **run: Any):
        super().__init__(config, out, **run)
        self.cases, self.spec, self.card_given, self.init_state = cases, spec, card or {}, init_state
        self.losses: list[float] = []     # every step's loss, averaged over the processes
        self.pending_losses: list[torch.Tensor] = []  # on a GPU: losses not read yet (no sync every step)

    def resume_settings(self) -> dict:
        return resume_settings(self.spec, self.config)

    def prepare(self, state: dict | None) -> int:
        import torch

        from .loss import make_loss
        from .sampling import BalancedPatchSampler

        config, rank = self.config, self.context.rank
        self.local_batch = max(1, config.batch_size // self.context.world_size)
        self.sampler = BalancedPatchSampler(self.cases, self.spec.patch_size, config.positive_fraction,
                                            seed=config.seed + rank)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + rank)
        self.loss_function = make_loss()
        return config.iterations

    def build_model(self) -> torch.nn.Module:
        import torch

        from ..modelfile import load_state_into

        torch.manual_seed(self.config.seed + 7919 * self.context.rank)
        network = build_network(self.spec)
        if self.init_state is not None:
            load_state_into(network, complete_state_dict(network, self.init_state), "the initial weights")
        return network.to(self.context.device)

    def restore(self, state: dict) -> None:
        samplers, rank = state["sampler"], self.context.rank
        self.sampler.restore(samplers[rank] if rank < len(samplers) else samplers[0])
        self.generator.set_state(state["generator"])
        self.losses = list(state.get("losses", []))
        self.report("train", self.step / self.config.iterations,
                    f"resumed from step {self.step} ({self.checkpoint.name})", force=True, step=self.step)

    def checkpoint_extras(self) -> dict:
        self._read_losses()
        return {"sampler": _gather_sampler_states(self.sampler, self.context), "generator": self.generator.get_state(),
                "losses": self.losses[-1000:]}

    def batches(self, epoch: int, done_in_epoch: int) -> Iterator:
        import torch

        from .loss import one_hot_soft

        device = self.context.device
        self.network.train()
        while True:  # patches are drawn step by step: the step budget ends the run
            image_batch, label_batch = self.sampler.batch(self.local_batch)
            images = torch.from_numpy(image_batch).to(device, non_blocking=True)
            labels = one_hot_soft(torch.from_numpy(label_batch).to(device, non_blocking=True))
            yield augment_batch(images, labels, self.config.augment, self.generator)

    def loss_of(self, batch) -> torch.Tensor:
        images, labels = batch
        with self.precision.autocast():
            logits = self.network(images)
        return self.loss_function(logits.float(), labels)

    def log_step(self, epoch: int, loss: torch.Tensor) -> None:
        self.pending_losses.append(loss.detach())
        if self.context.device.type == "cuda" and self.step % LOSS_READ_EVERY and self.step < self.config.iterations:
            return  # on a GPU the losses are read every LOSS_READ_EVERY steps and at the last, not each step
        self._read_losses()
        recent = self.losses[-20:]
        self.report("train", self.step / self.config.iterations, f"step {self.step}/{self.config.iterations}",
                    step=self.step, loss=sum(recent) / len(recent), lr=self.scheduler.get_last_lr()[0])

    def _read_losses(self) -> None:
        """The losses kept on the device since the last reading, as numbers (one sync for all of them)."""
        if self.pending_losses:
            import torch

            self.losses += [self.context.mean(value) for value in
                            torch.stack(self.pending_losses).float().tolist()]
            self.pending_losses = []

    def card(self) -> dict:
        self._read_losses()  # a deadline may stop the run between readings (one process: no collective here)
        config, recent = self.config, self.losses[-50:]
        card = {"kind": "segmenter", "architecture": ARCHITECTURE, "spec": self.spec.to_card(),
                "parameters": count_parameters(self.model), **self.card_given}
        card["training"] = {
            **card.get("training", {}), "iterations": config.iterations, "batch_size": config.batch_size,
            "lr": config.lr, "warmup": config.warmup, "final_lr": config.final_lr,
            "weight_decay": config.weight_decay, "positive_fraction": config.positive_fraction, "seed": config.seed,
            "augment": asdict(config.augment), "loss": "GeneralizedDiceLoss(softmax, background, soft_label)",
            "processes": self.context.world_size, **self.run_facts(), "resumed_from_step": self.resumed_from,
            "seconds_this_run": round(time.monotonic() - self.started, 1)}
        card["metrics"] = {**card.get("metrics", {}),
                           "final_training_loss": round(sum(recent) / max(1, len(recent)), 5)}
        return card

    def weights_to_save(self) -> dict:
        return portable_state_dict(self.model)


def train_segmenter(cases, spec: SegmenterSpec, config: TrainConfig, out: str | Path, card: dict | None = None,
                    init_state: dict | None = None, checkpoint: str | Path | None = None, device: str = "auto",
                    progress: Callable = QUIET, overwrite: bool = False, restart: bool = False,
                    deadline: float | None = None) -> Path | None:
    """Train on ``cases`` (TrainingArrays) and write ``out`` (safetensors + card). Returns the model path on the
    main process (None on the other torchrun ranks). ``deadline`` (a ``time.monotonic()`` value; one process only):
    the schedule shrinks to the iterations that fit (:class:`~IExplainLib.training.StepBudget`) and the model is
    written on time, its card saying how many iterations ran. The run is :class:`SegmenterTraining`, the training
    skeleton's segmenter hooks."""
    return SegmenterTraining(cases, spec, config, out, card=card, init_state=init_state, checkpoint=checkpoint,
                             device=device, progress=progress, overwrite=overwrite, restart=restart,
                             deadline=deadline).run()


def _gather_sampler_states(sampler, context) -> list:
    """Every rank's patch-sampler state, so a resumed DDP run draws the same patches on every rank."""
    if not context.distributed:
        return [sampler.state()]
    import torch.distributed as dist

    states = [None] * context.world_size
    dist.all_gather_object(states, sampler.state())
    return states
