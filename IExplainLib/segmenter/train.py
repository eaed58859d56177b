"""The segmenter training loop: balanced patches, augmentation + Mixup, soft-label Generalized Dice, AdamW with
warmup and linear decay, resumable checkpoints, torchrun DDP, mixed precision on GPU.

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
from typing import Callable

from ..errors import IExplainError, InputError
from ..progress import QUIET
from .augment import AugmentConfig, augment_batch
from .spec import (ARCHITECTURE, SegmenterSpec, build_network, complete_state_dict, count_parameters,
                   portable_state_dict)


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


def default_checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    stem = out.with_suffix("") if out.suffix in (".safetensors", ".json") else out
    return stem.parent / f"{stem.name}.checkpoint.pt"


def resume_settings(spec: SegmenterSpec, config: TrainConfig) -> dict:
    """What a checkpoint must have been made with to be resumed (:mod:`IExplainLib.training.resume`)."""
    return {"spec": spec.to_card(), "config": config.fingerprint()}


def train_segmenter(cases, spec: SegmenterSpec, config: TrainConfig, out: str | Path, card: dict | None = None,
                    init_state: dict | None = None, checkpoint: str | Path | None = None, device: str = "auto",
                    progress: Callable = QUIET, overwrite: bool = False, restart: bool = False,
                    deadline: float | None = None) -> Path | None:
    """Train on ``cases`` (TrainingArrays) and write ``out`` (safetensors + card). Returns the model path on the
    main process (None on the other torchrun ranks). ``deadline`` (a ``time.monotonic()`` value; one process only):
    the schedule shrinks to the iterations that fit (:class:`~IExplainLib.training.StepBudget`) and the model is
    written on time, its card saying how many iterations ran."""
    import torch

    from ..modelfile import load_state_into, model_paths, save_model
    from ..outputs import check_can_write
    from ..training import StepBudget, clean_interrupted_run, init_distributed, save_checkpoint, warmup_linear_decay
    from ..training.resume import SETTINGS_KEY, checkpoint_to_resume
    from .loss import make_loss, one_hot_soft
    from .sampling import BalancedPatchSampler

    weights_path, card_path = model_paths(out)
    check_can_write(weights_path, overwrite)
    check_can_write(card_path, overwrite)
    checkpoint_path = Path(checkpoint) if checkpoint else default_checkpoint_path(out)
    context = init_distributed(device)
    if deadline is not None and context.distributed:
        context.close()
        raise IExplainError("a time limit needs a single process (under torchrun the ranks could stop apart)")
    budget = StepBudget(config.iterations, deadline)
    local_batch = max(1, config.batch_size // context.world_size)
    torch.manual_seed(config.seed + 7919 * context.rank)

    network = build_network(spec)
    if init_state is not None:
        load_state_into(network, complete_state_dict(network, init_state), "the initial weights")
    network.to(context.device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = warmup_linear_decay(optimizer, config.warmup, budget, config.final_lr)
    sampler = BalancedPatchSampler(cases, spec.patch_size, config.positive_fraction, seed=config.seed + context.rank)
    generator = torch.Generator().manual_seed(config.seed * 1000 + context.rank)

    step, resumed_from, losses = 0, None, []
    if context.is_main:  # only the main process writes these, so no other rank can be writing them now
        clean_interrupted_run([checkpoint_path, weights_path, card_path], progress)
    state = checkpoint_to_resume(checkpoint_path, resume_settings(spec, config), restart)
    if state is not None:
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = resumed_from = int(state["step"])
        sampler.restore(state["sampler"][context.rank] if context.rank < len(state["sampler"]) else
                        state["sampler"][0])
        generator.set_state(state["generator"])
        losses = list(state.get("losses", []))
        progress("train", step / config.iterations, f"resumed from step {step} ({checkpoint_path.name})",
                 force=True, step=step)

    model = context.wrap(network)
    loss_function = make_loss()
    use_amp = config.amp and context.device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    model.train()
    started = time.monotonic()

    def save_state():
        samplers = _gather_sampler_states(sampler, context)
        if context.is_main:
            save_checkpoint(checkpoint_path, {
                "model": network.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "step": step, "sampler": samplers,
                "generator": generator.get_state(), "losses": losses[-1000:],
                SETTINGS_KEY: resume_settings(spec, config)})
        context.barrier()

    while step < budget.total:
        image_batch, label_batch = sampler.batch(local_batch)
        images = torch.from_numpy(image_batch).to(context.device, non_blocking=True)
        labels = one_hot_soft(torch.from_numpy(label_batch).to(context.device, non_blocking=True))
        images, labels = augment_batch(images, labels, config.augment, generator)
        with torch.autocast(context.device.type, dtype=amp_dtype, enabled=use_amp):
            logits = model(images)
        loss = loss_function(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        step += 1
        losses.append(context.mean(loss.item()))
        if context.is_main:
            recent = losses[-20:]
            progress("train", step / config.iterations, f"step {step}/{config.iterations}", step=step,
                     loss=sum(recent) / len(recent), lr=schedule.get_last_lr()[0])
        if budget.after_step(step):
            break
        if step % config.checkpoint_every == 0 and step < config.iterations:
            save_state()

    if not context.is_main:
        context.close()
        return None
    recent = losses[-50:]
    full_card = {
        "kind": "segmenter", "architecture": ARCHITECTURE, "spec": spec.to_card(),
        "parameters": count_parameters(network),
        **(card or {}),
    }
    training = dict(full_card.get("training", {}))
    training.update({"iterations": config.iterations, "batch_size": config.batch_size, "lr": config.lr,
                     "warmup": config.warmup, "final_lr": config.final_lr, "weight_decay": config.weight_decay,
                     "positive_fraction": config.positive_fraction, "seed": config.seed,
                     "augment": asdict(config.augment), "loss": "GeneralizedDiceLoss(softmax, background, soft_label)",
                     "processes": context.world_size, "device": str(context.device), "mixed_precision": use_amp,
                     "resumed_from_step": resumed_from, "seconds_this_run": round(time.monotonic() - started, 1),
                     **({"time_limit": budget.as_dict()} if deadline is not None else {})})
    full_card["training"] = training
    metrics = dict(full_card.get("metrics", {}))
    metrics["final_training_loss"] = round(sum(recent) / max(1, len(recent)), 5)
    full_card["metrics"] = metrics
    path = save_model(out, portable_state_dict(network), full_card, overwrite=overwrite)
    if checkpoint_path.exists():
        checkpoint_path.unlink()
    context.close()
    return path


def _gather_sampler_states(sampler, context) -> list:
    """Every rank's patch-sampler state, so a resumed DDP run draws the same patches on every rank."""
    if not context.distributed:
        return [sampler.state()]
    import torch.distributed as dist

    states = [None] * context.world_size
    dist.all_gather_object(states, sampler.state())
    return states
