"""The training skeleton (IExplainLib/training/run.py) driving a real, tiny trainer: a linear layer fitted to a line,
with a real optimiser, schedule, checkpoints and random draws, so that each run takes a fraction of a second."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file

from IExplainLib.errors import InputError, OutputExistsError
from IExplainLib.training import DistributedContext, TrainingRun, load_checkpoint, save_checkpoint
from IExplainLib.training import run as run_module


@dataclass(frozen=True)
class LineConfig:
    lr: float = 0.05
    weight_decay: float = 0.0
    warmup: int = 2
    final_lr: float = 1e-4
    amp: bool = True
    checkpoint_every: int | None = 3


def written_model(path):
    """(tensors, card) of a model the test trainer wrote (its kind is no model kind the library reads)."""
    return load_file(str(path)), json.loads(path.with_suffix(".json").read_text())


class LineFit(TrainingRun[LineConfig]):
    """Fits y = 3x - 1 (plus noise drawn from torch's global generator, so that a resumed run reproduces an
    uninterrupted one only if the skeleton restores the random state) and records every hook call in ``calls``."""

    def __init__(self, out, config=LineConfig(), *, steps_per_epoch: int | None = 4, steps: int = 8, **run):
        super().__init__(config, out, **run)
        self.epoch_steps, self.planned = steps_per_epoch, steps
        self.calls: list[tuple] = []
        self.extras_restored: dict | None = None

    def resume_settings(self):
        return {"steps": self.planned, "steps_per_epoch": self.epoch_steps}

    def prepare(self, state):
        self.calls.append(("prepare", state is not None))
        self.steps_per_epoch = self.epoch_steps
        self.inputs = torch.randn(self.planned, 4, 1, generator=torch.Generator().manual_seed(0))
        return self.planned

    def build_model(self):
        self.calls.append(("build_model",))
        torch.manual_seed(0)
        return torch.nn.Linear(1, 1).to(self.context.device)

    def batches(self, epoch, done_in_epoch):
        self.calls.append(("batches", epoch, done_in_epoch))
        if self.steps_per_epoch is None:
            step = self.step
            while True:  # an endless epoch: the step budget ends it
                yield self.inputs[step % self.planned]
                step += 1
        start = epoch * self.steps_per_epoch
        yield from self.inputs[start + done_in_epoch:start + self.steps_per_epoch]

    def loss_of(self, batch):
        noise = 0.1 * torch.randn(batch.shape)
        with self.precision.autocast():
            return ((self.network(batch) - (3 * batch - 1 + noise)) ** 2).mean()

    def log_step(self, epoch, loss):
        self.calls.append(("step", self.step))

    def end_epoch(self, epoch):
        self.calls.append(("end_epoch", epoch))

    def checkpoint_extras(self):
        self.calls.append(("checkpoint", self.step))
        return {"own": {"at": self.step}}

    def restore(self, state):
        self.calls.append(("restore", int(state["step"])))
        self.extras_restored = state["own"]

    def seed_draws(self):
        torch.manual_seed(1000 + self.step)

    def card(self):
        return {"kind": "line", "architecture": "linear", "training": {"steps": self.step, **self.run_facts()}}

    def written(self, path):
        self.calls.append(("written", path.name))


def test_hooks_run_in_the_skeletons_order_and_the_model_is_written(tmp_path):
    run = LineFit(tmp_path / "line.safetensors")
    assert run.run() == tmp_path / "line.safetensors"
    assert run.calls == [
        ("prepare", False), ("build_model",),
        ("batches", 0, 0), ("step", 1), ("step", 2), ("step", 3), ("checkpoint", 3), ("step", 4),
        ("end_epoch", 0), ("checkpoint", 4),  # an epoch's last step is checkpointed once, after its validation
        ("batches", 1, 0), ("step", 5), ("step", 6), ("checkpoint", 6), ("step", 7), ("step", 8),
        ("end_epoch", 1), ("checkpoint", 8), ("written", "line.safetensors")]
    state, card = written_model(tmp_path / "line.safetensors")
    torch.manual_seed(0)
    assert float(state["weight"]) > float(torch.nn.Linear(1, 1).weight.detach()) + 0.2  # it learnt: towards the slope 3
    assert card["training"] == {"steps": 8, "device": "cpu", "mixed_precision": False}  # fp32 on the CPU
    assert not (tmp_path / "line.checkpoint.pt").exists()  # the run is over: nothing left to resume


def test_a_run_without_epochs_is_ended_by_its_budget_and_never_checkpoints_its_last_step(tmp_path):
    run = LineFit(tmp_path / "line.safetensors", steps_per_epoch=None, steps=6)
    run.run()
    assert [call for call in run.calls if call[0] in ("batches", "checkpoint", "end_epoch")] == [
        ("batches", 0, 0), ("checkpoint", 3), ("end_epoch", 0)]
    assert run.step == 6


def test_a_stopped_run_resumes_from_its_checkpoint_exactly(tmp_path):
    straight = LineFit(tmp_path / "straight.safetensors")
    straight.run()
    stopped = LineFit(tmp_path / "resumed.safetensors", stop_after_steps=7)
    assert stopped.run() is None and stopped.stopped and stopped.step == 7
    assert not (tmp_path / "resumed.safetensors").exists()
    assert load_checkpoint(tmp_path / "resumed.checkpoint.pt", restore_rng=False)["step"] == 6

    resumed = LineFit(tmp_path / "resumed.safetensors")
    resumed.run()
    assert resumed.calls[:4] == [("prepare", True), ("build_model",), ("restore", 6), ("batches", 1, 2)]
    assert resumed.resumed_from == 6 and resumed.extras_restored == {"at": 6}
    # model, optimiser, schedule and the main process's random draws all continued: the same weights to the bit
    ours, _ = written_model(tmp_path / "resumed.safetensors")
    theirs, _ = written_model(tmp_path / "straight.safetensors")
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


def test_a_checkpoint_of_other_settings_is_refused_unless_restart(tmp_path):
    LineFit(tmp_path / "line.safetensors", stop_after_steps=4).run()
    with pytest.raises(OutputExistsError, match="other settings .*steps"):
        LineFit(tmp_path / "line.safetensors", steps=12).run()
    restarted = LineFit(tmp_path / "line.safetensors", steps=12, restart=True)
    restarted.run()
    assert restarted.resumed_from is None and restarted.calls[0] == ("prepare", False) and restarted.step == 12


def test_a_scheduler_saved_under_its_old_name_still_resumes(tmp_path):
    """Segmenter checkpoints written before the skeleton keep the scheduler's state as "schedule"."""
    LineFit(tmp_path / "line.safetensors", stop_after_steps=4).run()  # its last checkpoint: step 3
    checkpoint = tmp_path / "line.checkpoint.pt"
    state = load_checkpoint(checkpoint, restore_rng=False)
    state["schedule"] = state.pop("scheduler")
    save_checkpoint(checkpoint, state)
    resumed = LineFit(tmp_path / "line.safetensors")
    resumed.run()
    assert resumed.resumed_from == 3 and resumed.scheduler.last_epoch == 8


def test_a_deadline_shortens_the_run_and_the_card_says_so(tmp_path):
    ticks = iter(range(1000))
    run = LineFit(tmp_path / "line.safetensors", steps=40, steps_per_epoch=None, deadline=5.5,
                  clock=lambda: float(next(ticks)))  # one second a step: 5 steps fit before the deadline
    run.run()
    limit = written_model(tmp_path / "line.safetensors")[1]["training"]["time_limit"]
    assert limit == {"planned_steps": 40, "steps": run.step, "stopped_by_deadline": True} and run.step < 10
    assert run.scheduler.get_last_lr()[0] == pytest.approx(1e-4)  # the schedule still decayed to its end


def test_outputs_and_options_are_refused_before_anything_runs(tmp_path):
    (tmp_path / "line.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="already exists"):
        LineFit(tmp_path / "line.safetensors")  # the card alone is enough to refuse
    with pytest.raises(InputError, match="stop_after_steps"):
        LineFit(tmp_path / "other.safetensors", stop_after_steps=0)


def test_a_time_limit_under_torchrun_is_refused_as_an_input_error(tmp_path, monkeypatch):
    """The one refusal both trainers used to raise differently: InputError, which every entry point reports."""
    from IExplainLib.classifier import train_classifier
    from IExplainLib.segmenter.spec import SegmenterSpec
    from IExplainLib.segmenter.train import TrainConfig, train_segmenter

    two_ranks = DistributedContext(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"))
    monkeypatch.setattr(run_module, "init_distributed", lambda device: two_ranks)
    for train in (lambda: LineFit(tmp_path / "line.safetensors", deadline=10.0).run(),
                  lambda: train_classifier(tmp_path / "no-data", tmp_path / "c.safetensors", deadline=10.0),
                  lambda: train_segmenter([], SegmenterSpec(), TrainConfig(), tmp_path / "s.safetensors",
                                          deadline=10.0)):
        with pytest.raises(InputError, match="a time limit needs a single process"):
            train()


def test_a_rerun_removes_the_temporaries_a_killed_run_left(tmp_path):
    leftovers = [tmp_path / ".partial-0123abcd-line.safetensors", tmp_path / ".partial-89abcdef-line.checkpoint.pt"]
    theirs = tmp_path / ".partial-0123abcd-other.safetensors"  # another run's: not ours to remove
    for path in [*leftovers, theirs]:
        path.write_bytes(b"half")
    messages = []
    LineFit(tmp_path / "line.safetensors", progress=lambda *args, **kwargs: messages.append(args)).run()
    assert not any(path.exists() for path in leftovers) and theirs.exists()
    assert any("removed" in str(message) for message in messages)


def test_a_run_in_memory_trains_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = LineFit(None)
    assert run.in_memory and run.run() is None and run.step == 8
    assert ("written", "line.safetensors") not in run.calls and not any(c[0] == "checkpoint" for c in run.calls)
    assert list(tmp_path.iterdir()) == []
    torch.manual_seed(0)
    assert float(run.model.weight.detach()) > float(torch.nn.Linear(1, 1).weight.detach()) + 0.2  # it learnt anyway
    with pytest.raises(ValueError, match="no model file"):
        run.weights


class QuickFit(LineFit):
    """A trainer whose runs take seconds (as the candidate reducer's): no checkpoint, and its own schedule."""

    resumable = False

    def build_optimizer(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05)
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)


def test_a_run_that_is_not_resumable_keeps_no_checkpoint_and_may_bring_its_own_schedule(tmp_path):
    leftover = tmp_path / ".partial-0123abcd-quick.safetensors"
    leftover.write_bytes(b"half")
    run = QuickFit(tmp_path / "quick.safetensors")
    assert run.run() == tmp_path / "quick.safetensors" and not leftover.exists()
    assert run.resumed_from is None and not any(call[0] in ("checkpoint", "restore") for call in run.calls)
    assert not (tmp_path / "quick.checkpoint.pt").exists()
    assert isinstance(run.optimizer, torch.optim.SGD) and run.scheduler.get_last_lr()[0] == pytest.approx(0.05 / 4)
