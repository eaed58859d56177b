"""The training skeleton's checkpoint policy (issue 25): ``phase`` writes one checkpoint when the loop ends and one on
SIGTERM / SIGINT (then stops cleanly), none between epochs; ``epoch`` stays the default. The trainer is the test
skeleton's line fit (Testing/core/test_training_run.py); the signal test runs it in a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from IExplainLib.errors import InputError
from IExplainLib.training import checkpoint_policy, load_checkpoint
from Testing.core.test_training_run import LineFit, written_model

ROOT = Path(__file__).resolve().parents[2]


def test_the_phase_policy_checkpoints_once_at_the_end_and_trains_the_same_weights(tmp_path):
    epoch = LineFit(tmp_path / "epoch.safetensors")
    epoch.run()
    phase = LineFit(tmp_path / "phase.safetensors", checkpoints="phase")
    assert phase.run() == tmp_path / "phase.safetensors"
    assert [call for call in phase.calls if call[0] in ("checkpoint", "end_epoch")] == [
        ("end_epoch", 0), ("end_epoch", 1), ("checkpoint", 8)]       # none between epochs nor every 3 steps
    assert epoch.checkpoints == "epoch" and sum(call[0] == "checkpoint" for call in epoch.calls) == 4
    ours, _ = written_model(tmp_path / "phase.safetensors")
    theirs, _ = written_model(tmp_path / "epoch.safetensors")
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)  # checkpoints draw nothing: same weights
    assert not (tmp_path / "phase.checkpoint.pt").exists()             # removed once the model is written


def test_a_stopped_phase_run_checkpoints_where_it_stopped_and_resumes_exactly(tmp_path):
    straight = LineFit(tmp_path / "straight.safetensors")
    straight.run()
    with checkpoint_policy("phase"):                                   # what reproduce wraps its trainers in
        stopped = LineFit(tmp_path / "resumed.safetensors", stop_after_steps=7)
    assert stopped.checkpoints == "phase" and stopped.run() is None
    assert load_checkpoint(tmp_path / "resumed.checkpoint.pt", restore_rng=False)["step"] == 7
    resumed = LineFit(tmp_path / "resumed.safetensors")                # the default policy again outside
    resumed.run()
    assert resumed.checkpoints == "epoch" and resumed.resumed_from == 7
    ours, _ = written_model(tmp_path / "resumed.safetensors")
    theirs, _ = written_model(tmp_path / "straight.safetensors")
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


def test_an_unknown_policy_is_refused(tmp_path):
    with pytest.raises(InputError, match="checkpoints must be one of epoch, phase"):
        LineFit(tmp_path / "line.safetensors", checkpoints="never")
    with pytest.raises(InputError, match="checkpoint policy"):
        with checkpoint_policy("often"):
            pass


CHILD = textwrap.dedent("""
    import sys, time
    from IExplainLib.training import TrainingInterrupted
    from Testing.core.test_training_run import LineFit

    class Slow(LineFit):
        def log_step(self, epoch, loss):
            super().log_step(epoch, loss)
            print(f"step {self.step}", flush=True)
            time.sleep(0.02)

    run = Slow(sys.argv[1], steps=10 ** 6, steps_per_epoch=None, checkpoints="phase")
    try:
        run.run()
    except TrainingInterrupted as stop:
        print(f"interrupted: {stop}", file=sys.stderr)
        sys.exit(128 + stop.signum)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_writes_a_checkpoint_and_the_run_exits_cleanly(tmp_path, signum):
    out = tmp_path / "line.safetensors"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "step 3":
            break
    child.send_signal(signum)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and f"interrupted: {signal.Signals(signum).name}: checkpoint at step" in stderr
    last = int([line for line in ("step 3\n" + stdout).splitlines() if line.startswith("step ")][-1].split()[1])
    state = load_checkpoint(tmp_path / "line.checkpoint.pt", restore_rng=False)
    assert state["step"] == last >= 3                     # the step in flight ended, then the checkpoint was written
    assert not out.exists()                               # no model: the run was stopped, not finished
    resumed = LineFit(out, steps=10 ** 6, steps_per_epoch=None, stop_after_steps=last + 2)
    resumed.run()
    assert resumed.resumed_from == last and resumed.step == last + 2
