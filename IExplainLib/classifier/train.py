"""Stage 1 training: AdamW with warmup + linear decay, balanced slices, heavy augmentation, per-epoch validation.

Runs as one process or under ``torchrun`` (DistributedDataParallel, one GPU per process, gloo on CPU). Only rank 0
validates, writes checkpoints and the model. A checkpoint is written every epoch (and every ``checkpoint_every``
steps); ``resume=True`` continues from it with the same study split, sample order and step count, so a killed job
restarted with the same command carries on where its last checkpoint left it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .. import __version__
from ..errors import InputError, OutputExistsError
from ..modelfile import load_state_into, model_paths, save_model
from ..outputs import claim_folder
from ..progress import QUIET, Progress
from ..training import (DistributedContext, StepBudget, clean_interrupted_run, init_distributed, load_checkpoint,
                        save_checkpoint, warmup_linear_decay)
from .augment import TrainAugment
from .backbones import build_classifier
from .data import PreparedStudy, SliceDataset, StudySource, prepare_all, sources_from_dataset, split_studies
from .hard_negatives import mine_evidence, mine_hard_negatives
from .inference import predict_slices
from .metrics import best_f1_threshold, slice_metrics
from .sampling import BalancedDistributedSampler
from .spec import ClassifierSpec

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
    all_labels, all_scores = np.concatenate(labels), np.concatenate(scores)
    threshold, _ = best_f1_threshold(all_labels, all_scores)
    return slice_metrics(all_labels, all_scores, threshold)


def _check_outputs(weights: Path, checkpoint: Path, resume: bool, overwrite: bool) -> None:
    if weights.exists() and not overwrite:
        raise OutputExistsError(f"{weights} exists (use --overwrite to replace it)")
    if checkpoint.exists() and not resume and not overwrite:
        raise OutputExistsError(f"checkpoint {checkpoint} exists: use --resume to continue that run "
                                "or --overwrite to start again")


def _is_paths(data) -> bool:
    return isinstance(data, (str, Path)) or (isinstance(data, (list, tuple)) and bool(data)
                                             and all(isinstance(d, (str, Path)) for d in data))


def _sources(data) -> list[StudySource]:
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


def _describe_data(data) -> str | list[str]:
    if isinstance(data, (str, Path)):
        return str(data)
    return [str(d) for d in data] if _is_paths(data) else "in-memory studies"


# Spec fields a convolutional network's weights do not depend on: a warm start may change them.
TRANSFERABLE_FIELDS = ("threshold", "input_size", "field_of_view_mm", "region")


def _initial_weights(init, spec: ClassifierSpec | None):
    """(state dict, spec, commands that made it) of the classifier model file ``init``. A ``spec`` asked for may
    differ from the model's only in :data:`TRANSFERABLE_FIELDS` (input size, field of view, region) and by HU windows
    added after the model's own (:func:`widen_stem`)."""
    from .inference import read_classifier

    state_dict, init_spec, card = read_classifier(init)
    same = {name: getattr(init_spec, name) for name in TRANSFERABLE_FIELDS}
    extends = spec is not None and _adds_windows(init_spec.hu_windows, spec.hu_windows)
    if extends:
        same["hu_windows"] = init_spec.hu_windows
    if spec is not None and replace(spec, **same).to_dict() != init_spec.to_dict():
        raise InputError(f"--init {init}: its classifier spec differs from the one asked for "
                         "(backbone and slices come from the initial model; windows may only be added after its own)")
    if extends and spec is not None:
        # a model file's tensors are stored by name, not in layer order: the network says which layer comes first
        first_layer = next(k for k, v in build_classifier(init_spec).state_dict().items() if v.ndim == 4)
        state_dict = widen_stem(state_dict, first_layer, spec.slices * len(spec.hu_windows), init)
    training = card.get("training")
    if not isinstance(training, dict):
        training = {}
    chosen = init_spec if spec is None else replace(spec, threshold=init_spec.threshold)
    return state_dict, chosen, [str(c) for c in training.get("commands", [])]


def _adds_windows(old, new) -> bool:
    old, new = [tuple(map(float, w)) for w in old], [tuple(map(float, w)) for w in new]
    return len(new) > len(old) and new[:len(old)] == old


def widen_stem(state_dict: dict, first_layer: str, channels: int, source) -> dict:
    """``state_dict`` with its first convolution ``first_layer`` taking ``channels`` inputs. Channels are
    window-major, so added windows are the last inputs; their weights start at zero: the widened network computes
    exactly what the initial model did, and training alone decides what the new windows are worth."""
    import torch

    weight = state_dict.get(first_layer)
    if weight is None or weight.ndim != 4 or weight.shape[1] >= channels:
        raise InputError(f"--init {source}: its first convolution {first_layer} cannot be widened to {channels} inputs")
    extra = torch.zeros((weight.shape[0], channels - weight.shape[1], *weight.shape[2:]), dtype=weight.dtype)
    return {**state_dict, first_layer: torch.cat([weight, extra], dim=1)}


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


def train_classifier(data_root: str | Path | Sequence[str | Path] | Sequence[StudySource], out: str | Path,
                     spec: ClassifierSpec | None = None, epochs: int = 10, batch_size: int = 32, lr: float = 1e-3,
                     warmup: int = 100, device: str = "auto", resume: bool = False, progress: Progress | None = None,
                     overwrite: bool = False, *, weight_decay: float = 0.01, final_lr: float = 1e-7,
                     val_fraction: float = 0.2, samples_per_epoch: int | None = None, seed: int = 0,
                     workers: int = 0, amp: bool = True, augment: TrainAugment | bool | None = None,
                     checkpoint: str | Path | None = None, cache_dir: str | Path | None = None,
                     checkpoint_every: int | None = None, stop_after_steps: int | None = None,
                     crop: int = 0, hard_negatives: bool = False, positive_centres: str = "truth",
                     init: str | Path | None = None,
                     command: str | None = None, deadline: float | None = None,
                     channels_last: bool = False, clock: Callable[[], float] = time.monotonic) -> dict:
    """Train a slice classifier on dataset folder(s) (or StudySource objects) and write ``out`` (+ card).

    Returns ``{"model", "metrics", "history", "step", "stopped"}`` (``model`` is None in torchrun ranks other than
    0, which write nothing); ``stopped`` is True when ``stop_after_steps``
    ended the run early (it then writes no model, as if killed: resume continues from the last checkpoint).
    ``init`` (a classifier model file) starts from its weights with its spec (``spec`` must then be None or equal).
    ``hard_negatives`` (patch training only) re-mines, at every epoch start, where the current network sees the most
    PE evidence in each negative training slice, and centres half of the negative patches there.
    ``positive_centres`` (patch training only): ``"truth"`` centres PE patches on labelled voxels where a study has a
    voxel label; ``"evidence"`` re-mines at every epoch start where the current network sees the most PE evidence in
    each PE slice and centres them there: slice labels only, no voxel truth (multiple-instance style); ``"image"``
    centres them on small clot-density spots inside opacified lumen found from HU (:mod:`.image_centres`): slice
    labels only, and no trained network needed.
    ``deadline`` (a value of ``clock``, by default ``time.monotonic``; ``time.process_time`` makes it a CPU-time
    budget, as equal-budget experiments need; one process only): the schedule shrinks to the steps that fit
    (:class:`~IExplainLib.training.StepBudget`), the run validates and writes its model on time, and the card says so.
    ``channels_last``: train in the channels-last memory layout (faster convolutions on GPUs).
    """
    import torch

    progress = progress or QUIET
    weights, default_checkpoint, default_cache = default_paths(out)
    checkpoint = Path(checkpoint) if checkpoint else default_checkpoint
    cache_dir = Path(cache_dir) if cache_dir else default_cache
    _check_outputs(weights, checkpoint, resume, overwrite)
    if epochs < 1 or batch_size < 1:
        raise InputError("epochs and batch size must be at least 1")
    if hard_negatives and not crop:
        raise InputError("hard-negative mining needs patch training (--crop)")
    if positive_centres not in ("truth", "evidence", "image"):
        raise InputError(f"positive centres are 'truth', 'evidence' or 'image', got {positive_centres!r}")
    if positive_centres != "truth" and not crop:
        raise InputError(f"{positive_centres}-centred positives need patch training (--crop)")
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
        # the RNG is restored just before the loop, so that building the model does not consume it
        state = load_checkpoint(checkpoint, restore_rng=False) if resume and checkpoint.exists() else None
        sources = _sources(data_root)
        by_id = {s.id: s for s in sources}
        if state:
            config = state["config"]
            if spec is not None and spec.to_dict() != config["spec"]:
                report("resume", 0.0, "the checkpoint's classifier spec differs from the one asked for: "
                       "continuing with the checkpoint's")
            spec = ClassifierSpec.from_dict(config["spec"])
            train_ids, val_ids, seed = config["train_ids"], config["val_ids"], config["seed"]
            draw_phase = int(config.get("draw_phase", 0))
            missing = set(train_ids + val_ids) - set(by_id)
            if missing:
                raise InputError(f"cannot resume: {len(missing)} studies of the checkpoint's run are missing "
                                 f"from {data_root} (e.g. {sorted(missing)[0]})")
            report("resume", 0.0, f"resuming from {checkpoint} at step {int(state['step'])}")
        else:
            initial = _initial_weights(init, spec) if init else None
            spec = initial[1] if initial else (spec or ClassifierSpec())
            train_ids, val_ids = split_studies(list(by_id), val_fraction, seed)
            # a run continued from a model (--init) draws new slices and augmentations: with the same --seed (the
            # same validation studies) it would otherwise replay its parent's stream, sample for sample
            draw_phase = len(initial[2]) if initial else 0
        report("prepare", 0.0, f"{len(train_ids)} training and {len(val_ids)} validation studies")
        with _claimed_cache(cache_dir, ctx, report):
            prepared = prepare_all(
                [by_id[i] for i in train_ids + val_ids], spec, cache_dir, ctx.rank, ctx.world_size, ctx.barrier,
                lambda done, total, name: report("prepare", done / total, f"study {name}"))
        train_studies, val_studies = prepared[:len(train_ids)], prepared[len(train_ids):]
        dataset = SliceDataset(train_studies, spec, crop, image_centred=positive_centres == "image")
        if len(dataset) == 0:
            raise InputError("no training slices (every study went to validation?)")
        samples = int(samples_per_epoch or len(dataset))
        sampler = BalancedDistributedSampler(dataset.labels, samples, ctx.rank, ctx.world_size, seed,
                                             stream=draw_phase)
        steps_per_epoch = (samples // ctx.world_size) // batch_size
        if steps_per_epoch < 1:
            raise InputError(f"{samples} samples per epoch make no full batch of {batch_size} per process")
        total_steps = steps_per_epoch * epochs
        budget = StepBudget(total_steps, deadline, clock)

        torch.manual_seed(seed)  # same initial weights in every process (DDP also broadcasts rank 0's)
        model = build_classifier(spec).to(ctx.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        scheduler = warmup_linear_decay(optimizer, warmup, budget, final_lr)
        autocast, scaler = _amp_context(ctx.device, amp)
        step, history = 0, []
        if not state and init and initial is not None:  # without a checkpoint, initial was read from init
            load_state_into(model, initial[0], init)
        if state:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            step, history = int(state["step"]), list(state.get("history", []))
        if state and "torch_rng" in state and ctx.is_main:
            torch.set_rng_state(state["torch_rng"])  # rank 0 continues exactly; augmentation draws as before
        else:
            torch.manual_seed(seed * 7919 + 1000 * ctx.rank + step + 1 + 104729 * draw_phase)  # other ranks: own draws
        network = ctx.wrap(model)
        augmenter = (TrainAugment(slices=spec.slices, windows=len(spec.hu_windows)) if augment in (None, True)
                     else augment or None)
        assert augmenter is not True  # True asks for the default recipe, built just above
        # DataLoader is annotated to take torch's Dataset; SliceDataset is a map-style dataset (__len__,
        # __getitem__) without that base class, so that importing the classifier package does not import torch
        loader: torch.utils.data.DataLoader[tuple[torch.Tensor, float]] = torch.utils.data.DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=workers,
            pin_memory=ctx.device.type == "cuda", persistent_workers=False)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        config = {"spec": spec.to_dict(), "train_ids": train_ids, "val_ids": val_ids, "seed": seed,
                  "draw_phase": draw_phase,
                  "epochs": epochs, "batch_size": batch_size, "lr": lr, "warmup": warmup,
                  "weight_decay": weight_decay, "samples_per_epoch": samples, "world_size": ctx.world_size,
                  "crop": crop, "hard_negatives": bool(hard_negatives), "positive_centres": positive_centres, "init": (state["config"].get("init") if state else (str(init) if init else None)),
                  # every command that contributed to these weights: resumed phases and, with --init, the commands
                  # that made the initial model
                  "commands": (list(state["config"].get("commands", [])) if state
                               else list(initial[2]) if initial is not None else []) + [command or " ".join(sys.argv)]}

        def save(epoch_done_steps: int) -> None:
            if ctx.is_main:
                payload = {"config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "step": step, "history": history,
                           "epoch_step": epoch_done_steps}
                if scaler is not None:
                    payload["scaler"] = scaler.state_dict()
                save_checkpoint(checkpoint, payload)

        metrics: dict = history[-1]["validation"] if history else {}
        while step < budget.total:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            sampler.set_epoch(epoch, skip=in_epoch * batch_size)
            if hard_negatives:
                report("mine", 0.0, f"epoch {epoch + 1}/{epochs}: hard negatives")
                dataset.set_hard_negatives(mine_hard_negatives(model, train_studies, spec, ctx.device, batch_size * 2))
            if positive_centres == "evidence":
                report("mine", 0.0, f"epoch {epoch + 1}/{epochs}: where the PE slices' evidence lies")
                dataset.set_evidence_positives(mine_evidence(model, train_studies, spec, ctx.device, batch_size * 2,
                                                             positive=True))
            network.train()
            losses = []
            for inputs, labels in loader:
                inputs = inputs.to(ctx.device, non_blocking=True)
                labels = labels.to(ctx.device, dtype=torch.float32).view(-1, 1)
                if augmenter is not None:
                    inputs = augmenter(inputs)
                if channels_last:
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
                with autocast():
                    loss = loss_fn(network(inputs).float(), labels)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                scheduler.step()
                step += 1
                losses.append(float(loss.detach()))
                report("train", (step % steps_per_epoch or steps_per_epoch) / steps_per_epoch,
                       f"epoch {epoch + 1}/{epochs}", step=step, loss=float(np.mean(losses[-20:])),
                       lr=scheduler.get_last_lr()[0])
                if stop_after_steps is not None and step >= stop_after_steps:
                    return {"model": None, "metrics": metrics, "history": history, "step": step, "stopped": True}
                if checkpoint_every and step % checkpoint_every == 0 and step % steps_per_epoch:
                    save(step % steps_per_epoch)
                if budget.after_step(step):
                    break
            metrics = validate(model, val_studies, spec, ctx, batch_size * 2)
            history.append({"epoch": epoch + 1, "step": step, "train_loss": ctx.mean(float(np.mean(losses))),
                            "validation": metrics})
            report("validate", 1.0, f"epoch {epoch + 1}/{epochs}", loss=history[-1]["train_loss"],
                   **{k: metrics[k] for k in ("auroc", "f1", "threshold") if k in metrics})
            save(0)
            ctx.barrier()

        result = {"model": weights if ctx.is_main else None, "metrics": metrics, "history": history, "step": step,
                  "stopped": False, "time_limit": budget.as_dict() if deadline is not None else None}
        if ctx.is_main:
            final_spec = replace(spec, threshold=float(metrics.get("threshold", spec.threshold)))
            card = {"kind": "classifier", "architecture": spec.backbone, "spec": final_spec.to_dict(),
                    "input_size": spec.input_size, "hu_windows": [list(w) for w in spec.hu_windows],
                    "threshold": final_spec.threshold, "iexplain_version": __version__,
                    "channel_order": "window-major: channel = window * slices + (slice offset + slices // 2)",
                    "training": {"data": _describe_data(data_root),
                                 "command": config["commands"][-1], "commands": config["commands"],
                                 "train_studies": len(train_ids),
                                 "validation_studies": len(val_ids),
                                 **({"initial_weights": str(config["init"])} if config.get("init") else {}), "steps": step, "world_size": ctx.world_size,
                                 "device": str(ctx.device),
                                 **({"time_limit": budget.as_dict()} if deadline is not None else {}),
                                 "mixed_precision": bool(amp and ctx.device.type == "cuda"),
                                 "channels_last": bool(channels_last), **{k: config[k] for k in (
                                     "epochs", "batch_size", "lr", "warmup", "weight_decay", "samples_per_epoch",
                                     "seed", "draw_phase", "crop", "hard_negatives", "positive_centres")},
                                 "validation_ids": val_ids if len(val_ids) <= 500 else val_ids[:500]},
                    "metrics": {"validation": metrics, "train_loss": [h["train_loss"] for h in history]}}
            save_model(weights, model.state_dict(), card, overwrite=True)
            report.done(f"model written to {weights}", **{k: metrics[k] for k in ("auroc", "f1") if k in metrics})
        ctx.barrier()
        return result
    finally:
        ctx.close()
