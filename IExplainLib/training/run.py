"""One training run, in the order every trainer follows; the trainers supply its hooks (as nnU-Net's trainer does).

The skeleton owns what the classifier and the segmenter share, so it cannot drift between them: refusing an existing
model and a time limit under torchrun, removing what a killed run left, the resume rule
(:mod:`~IExplainLib.training.resume`), the step budget of a deadline (:mod:`~IExplainLib.training.time_limit`),
AdamW with the paper's warmup and linear decay, the precision (:mod:`~IExplainLib.training.precision`), the
optimiser step, checkpoints, and writing the model and removing the checkpoint once it is written.

A trainer subclasses :class:`TrainingRun` and supplies:

- :meth:`~TrainingRun.resume_settings`: what a checkpoint must have been made with to be resumed;
- :meth:`~TrainingRun.prepare`: data and sampling, from the checkpoint being resumed or afresh; returns the steps
  planned (and sets ``steps_per_epoch`` when the run has epochs);
- :meth:`~TrainingRun.build_model`: the seeded network on the run's device, with any initial weights;
- :meth:`~TrainingRun.batches` and :meth:`~TrainingRun.loss_of`: one epoch's batches, and one batch's loss;
- :meth:`~TrainingRun.log_step`, :meth:`~TrainingRun.end_epoch`: bookkeeping, progress, validation;
- :meth:`~TrainingRun.checkpoint_extras`, :meth:`~TrainingRun.restore`, :meth:`~TrainingRun.seed_draws`: its own
  resumable state (samplers, random generators, history);
- :meth:`~TrainingRun.card`: the model card (:meth:`~TrainingRun.run_facts` gives the parts every card states);
- :meth:`~TrainingRun.build_optimizer`, only where AdamW with warmup and linear decay is not the trainer's schedule
  (the candidate reducer's one-cycle schedule).

A run given no ``out`` trains in memory (the caller keeps ``model``: the reducer's experiments), and a trainer whose
runs take seconds sets ``resumable = False``: neither keeps a checkpoint, so they always start afresh.

When checkpoints are written is the run's policy (``checkpoints=``, or :func:`checkpoint_policy` around code that
starts runs, as ``iexplain reproduce`` does around its trainers):

- ``epoch`` (the default): after every epoch's validation and every ``config.checkpoint_every`` steps;
- ``phase``: once, when the loop ends (its budget, its deadline or ``stop_after_steps``; the model written next
  removes it), and on SIGTERM or SIGINT: the step in flight ends, the checkpoint is written, and
  :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) is raised, which the command line turns into a clean exit
  and the same run again resumes from. A GPU then never waits for a checkpoint between epochs. Signals are taken
  only in the main thread of a single process (under torchrun the ranks could stop at different steps).
"""

from __future__ import annotations

import signal
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, Protocol, TypeVar, cast

from ..errors import InputError
from ..modelfile import model_paths, save_model
from ..outputs import check_can_write
from ..progress import QUIET
from .checkpoint import clean_interrupted_run, save_checkpoint
from .distributed import DistributedContext, init_distributed
from .precision import Precision
from .resume import SETTINGS_KEY, checkpoint_to_resume
from .schedule import warmup_linear_decay
from .time_limit import StepBudget

if TYPE_CHECKING:
    import torch


class RunSettings(Protocol):
    """The settings of a trainer's config that the skeleton reads (every trainer's config has them)."""

    @property
    def amp(self) -> bool: ...
    @property
    def checkpoint_every(self) -> int | None: ...


class ScheduleSettings(RunSettings, Protocol):
    """The settings the default optimiser and schedule read (:meth:`TrainingRun.build_optimizer`): the classifier's
    and the segmenter's configs have them."""

    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def warmup(self) -> int: ...
    @property
    def final_lr(self) -> float: ...


ConfigT = TypeVar("ConfigT", bound=RunSettings)


CHECKPOINT_POLICIES = ("epoch", "phase")
_POLICY: ContextVar[str] = ContextVar("checkpoint_policy", default="epoch")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def checkpoint_policy(policy: str) -> Iterator[None]:
    """Training runs made inside the block and given no ``checkpoints=`` take ``policy`` (``epoch``, ``phase``)."""
    if policy not in CHECKPOINT_POLICIES:
        raise InputError(f"checkpoint policy must be one of {', '.join(CHECKPOINT_POLICIES)}, not {policy!r}")
    token = _POLICY.set(policy)
    try:
        yield
    finally:
        _POLICY.reset(token)


class TrainingInterrupted(KeyboardInterrupt):
    """A run of the ``phase`` policy got SIGTERM or SIGINT: its checkpoint (if it keeps one) is written."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        kept = f"checkpoint at step {step} written to {checkpoint}" if checkpoint else f"stopped at step {step}"
        super().__init__(f"{signal.Signals(signum).name}: {kept}")


def default_checkpoint_path(out: str | Path) -> Path:
    """``<model>.checkpoint.pt`` beside the model's weights."""
    stem = model_paths(out)[0].with_suffix("")
    return stem.with_name(stem.name + ".checkpoint.pt")


class TrainingRun(ABC, Generic[ConfigT]):
    """A run that writes the model ``out`` (safetensors + card); ``out`` None: a run in memory, which writes nothing
    (the caller keeps :attr:`model`). Call :meth:`run` once."""

    steps_per_epoch: int | None = None  # set by prepare() when the run has epochs; None: one epoch the budget ends
    resumable = True                    # False: no checkpoint is kept or resumed (runs of seconds)

    def __init__(self, config: ConfigT, out: str | Path | None, *, checkpoint: str | Path | None = None,
                 device: str = "auto", overwrite: bool = False, restart: bool = False,
                 deadline: float | None = None, clock: Callable[[], float] = time.monotonic,
                 progress: Callable[..., Any] = QUIET, stop_after_steps: int | None = None,
                 checkpoints: str | None = None):
        self._weights: Path | None = None
        self._card_path: Path | None = None
        if out is not None:
            self._weights, self._card_path = model_paths(out)
        for path in (self._weights, self._card_path):  # refused before any data is read
            if path is not None:
                check_can_write(path, overwrite)
        if stop_after_steps is not None and stop_after_steps < 1:
            raise InputError(f"stop_after_steps must be at least 1, not {stop_after_steps}")
        self.checkpoints = _POLICY.get() if checkpoints is None else checkpoints
        if self.checkpoints not in CHECKPOINT_POLICIES:
            raise InputError(f"checkpoints must be one of {', '.join(CHECKPOINT_POLICIES)}, not {checkpoints!r}")
        self._signalled: int | None = None       # the stop signal received (policy "phase")
        self.config = config
        self._checkpoint = None if out is None or not self.resumable else \
            Path(checkpoint) if checkpoint else default_checkpoint_path(out)
        self.device_name = device
        self.overwrite, self.restart = overwrite, restart
        self.deadline, self.clock = deadline, clock
        self.progress = self.report = progress   # report: progress on the main process, quiet on the others
        self.stop_after_steps = stop_after_steps
        self.stopped = False                     # True when stop_after_steps ended the run (no model written)
        self.step = 0
        self.resumed_from: int | None = None     # the checkpoint's step when the run continued one
        self.settings: dict = {}
        self.started = 0.0                       # time.monotonic() when the loop began

    @property
    def in_memory(self) -> bool:
        """A run given no ``out``: it writes no model."""
        return self._weights is None

    @property
    def weights(self) -> Path:
        """The model file's weights (``.safetensors``)."""
        return _named(self._weights, "model file")

    @property
    def card_path(self) -> Path:
        return _named(self._card_path, "model card")

    @property
    def checkpoint(self) -> Path:
        """The checkpoint of a resumable run that writes its model."""
        return _named(self._checkpoint, "checkpoint")

    # -- hooks -------------------------------------------------------------------------------------------------

    @abstractmethod
    def resume_settings(self) -> dict:
        """What a checkpoint must have been made with to be resumed."""

    @abstractmethod
    def prepare(self, state: dict | None) -> int:
        """Data and sampling for the run: from the checkpoint ``state`` being resumed, or afresh (None). Returns the
        number of steps planned."""

    @abstractmethod
    def build_model(self) -> torch.nn.Module:
        """The network, seeded, with any initial weights, on ``self.context.device``."""

    @abstractmethod
    def batches(self, epoch: int, done_in_epoch: int) -> Iterable:
        """The batches of ``epoch`` still to train (``done_in_epoch`` were trained before a resume)."""

    @abstractmethod
    def loss_of(self, batch) -> torch.Tensor:
        """The forward pass (in ``self.precision.autocast()`` where it belongs) and the loss of one batch."""

    def log_step(self, epoch: int, loss: torch.Tensor) -> None:
        """After each optimiser step (``self.step`` is counted): bookkeeping and progress."""

    def end_epoch(self, epoch: int) -> None:
        """After each epoch, before its checkpoint: validation."""

    def checkpoint_extras(self) -> dict:
        """The trainer's own resumable state; called on every process (it may gather their states)."""
        return {}

    def restore(self, state: dict) -> None:
        """Take back what :meth:`checkpoint_extras` saved (model, optimiser and step are restored already)."""

    def seed_draws(self) -> None:
        """Seed the random draws of a process that does not continue the checkpoint's (a fresh run's, or a torchrun
        rank other than the main one)."""

    @abstractmethod
    def card(self) -> dict:
        """The model card (``kind``, ``architecture``, ``training``, ``metrics``...)."""

    def weights_to_save(self) -> dict:
        """The tensors the model file keeps (the segmenter keeps shared tensors once: safetensors refuses aliases)."""
        return self.model.state_dict()

    def written(self, path: Path) -> None:
        """After the model is written (main process only)."""

    def build_optimizer(self) -> tuple[torch.optim.Optimizer, Any]:
        """The optimiser and its learning-rate schedule (stepped after every optimiser step): AdamW with the paper's
        warmup and linear decay to the step budget's end."""
        import torch

        config = cast(ScheduleSettings, self.config)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        return optimizer, warmup_linear_decay(optimizer, config.warmup, self.budget, config.final_lr)

    # -- the run -----------------------------------------------------------------------------------------------

    def run_facts(self) -> dict:
        """What every card says of how the run ran: device, precision and, under a deadline, the steps it allowed."""
        return {"device": str(self.context.device), "mixed_precision": self.precision.mixed,
                **({"time_limit": self.budget.as_dict()} if self.deadline is not None else {})}

    def run(self) -> Path | None:
        """Train and write the model; its path on the main process (None on the other torchrun ranks, and when
        ``stop_after_steps`` ended the run: as after a kill, the same run again continues from the checkpoint)."""
        self.context: DistributedContext = init_distributed(self.device_name)
        if self.deadline is not None and self.context.distributed:
            self.context.close()
            raise InputError("a time limit needs a single process (under torchrun the ranks could stop apart)")
        self.report = self.progress if self.context.is_main else QUIET
        try:
            files = [path for path in (self._checkpoint, self._weights, self._card_path) if path is not None]
            if self.context.is_main and files:  # only the main process writes these: no other rank writes them now
                clean_interrupted_run(files, self.report)
            self._build()
            self.started = time.monotonic()
            self.stopped = self._train()
            return None if self.stopped or self.in_memory else self._write_model()
        finally:
            self.context.close()

    def _build(self) -> None:
        import torch

        self.settings = self.resume_settings()
        # the random state is restored after the model is built, so that building it does not consume the draws
        state = None if self._checkpoint is None else \
            checkpoint_to_resume(self._checkpoint, self.settings, self.restart, restore_rng=False)
        self.budget = StepBudget(self.prepare(state), self.deadline, self.clock)
        self.model = self.build_model()
        self.optimizer, self.scheduler = self.build_optimizer()
        self.precision = Precision(self.context.device, self.config.amp)
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            # segmenter checkpoints written before this skeleton call the scheduler "schedule"
            self.scheduler.load_state_dict(state["scheduler"] if "scheduler" in state else state["schedule"])
            self.precision.load_state_dict(state.get("scaler", {}))
            self.step = self.resumed_from = int(state["step"])
            self.restore(state)
        if state is not None and "torch_rng" in state and self.context.is_main:
            torch.set_rng_state(state["torch_rng"])  # the main process continues its draws exactly
        else:
            self.seed_draws()
        self.network = self.context.wrap(self.model)

    def _train(self) -> bool:
        """The loop: epochs of optimiser steps, checkpoints by the policy. True when ``stop_after_steps`` ended it."""
        if self.checkpoints == "phase":
            with self._stop_signals():
                stopped = self._loop(every=None, each_epoch=False)
                self.save_checkpoint()  # the phase's end (the model written next removes it)
                self._stop_if_signalled(saved=True)  # a signal while it was written
            return stopped
        return self._loop(every=self.config.checkpoint_every, each_epoch=True)

    def _loop(self, every: int | None, each_epoch: bool) -> bool:
        while self.step < self.budget.total:
            epoch, done_in_epoch = divmod(self.step, self.steps_per_epoch) if self.steps_per_epoch else (0, 0)
            for batch in self.batches(epoch, done_in_epoch):
                loss = self.loss_of(batch)
                self.optimizer.zero_grad(set_to_none=True)
                self.precision.backward_and_step(loss, self.optimizer)
                self.scheduler.step()
                self.step += 1
                self.log_step(epoch, loss)
                self._stop_if_signalled()
                if self.stop_after_steps is not None and self.step >= self.stop_after_steps:
                    return True
                if self.budget.after_step(self.step):
                    break
                # an epoch's last step is checkpointed after the epoch's validation
                if every and self.step % every == 0 and not self._ends_epoch():
                    self.save_checkpoint()
            self.end_epoch(epoch)
            self._stop_if_signalled()
            if self.steps_per_epoch and each_epoch:
                self.save_checkpoint()
        return False

    @contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT only note the signal while the loop runs (the step in flight ends first); the
        handlers before are restored after. Nothing is taken outside the main thread or under torchrun."""
        if self.context.distributed or threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum, frame) -> None:
            self._signalled = signum

        previous = {signum: signal.signal(signum, note) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _stop_if_signalled(self, saved: bool = False) -> None:
        if self._signalled is None:
            return
        if not saved:
            self.save_checkpoint()
        self.report("interrupted", None, f"{signal.Signals(self._signalled).name} at step {self.step}: "
                    + (f"checkpoint written to {self._checkpoint}" if self._checkpoint else "no checkpoint kept"),
                    force=True)
        raise TrainingInterrupted(self._signalled, self.step, self._checkpoint)

    def _ends_epoch(self) -> bool:
        return self.steps_per_epoch is not None and self.step % self.steps_per_epoch == 0

    def save_checkpoint(self) -> None:
        if self._checkpoint is None:  # a run in memory, or one that is not resumable
            return
        extras = self.checkpoint_extras()
        if self.context.is_main:
            save_checkpoint(self.checkpoint, {
                **extras, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.precision.state_dict(), "step": self.step,
                SETTINGS_KEY: self.settings})
        self.context.barrier()

    def _write_model(self) -> Path | None:
        path = None
        if self.context.is_main:
            path = save_model(self.weights, self.weights_to_save(), self.card(), overwrite=self.overwrite)
            if self._checkpoint is not None:  # the model is written: the run is over, nothing left to resume
                self._checkpoint.unlink(missing_ok=True)
            self.written(path)
        self.context.barrier()
        return path


def _named(path: Path | None, what: str) -> Path:
    if path is None:
        raise ValueError(f"this training run has no {what} (a run in memory, or one that keeps no checkpoint)")
    return path
