"""Training runs for real: resumes after being killed, finetunes from a model or from scratch, refuses bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.modelfile import load_model_file

from .conftest import TINY_ARCH, subprocess_env, tiny_study, write_dataset_json

SCHEDULE = ["--iterations", "12", "--batch-size", "2", "--warmup", "2", "--lr", "1e-3", "--checkpoint-every", "3"]


def test_training_resumes_after_being_killed(tiny_phantoms, tmp_path):
    out = tmp_path / "killed.safetensors"
    checkpoint = tmp_path / "killed.checkpoint.pt"
    command = [sys.executable, "-m", "IExplainLib.cli.main", "train-segmenter", "--images", str(tiny_phantoms),
               "--out", str(out), *TINY_ARCH, *SCHEDULE, "--progress", "json"]
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), process.communicate()[1].decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)  # no chance to clean up, as with a pre-empted cluster job
    process.wait()
    assert not out.exists()

    resumed = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    events = [json.loads(line) for line in resumed.stdout.splitlines() if line.startswith("{")]
    start = next(e for e in events if "resumed from step" in e.get("message", ""))
    assert start["step"] >= 3 and start["step"] % 3 == 0
    steps = [e["step"] for e in events if e.get("stage") == "train" and "loss" in e]
    assert steps[0] == start["step"] + 1 and steps[-1] == 12  # continued, not restarted
    assert not checkpoint.exists()  # removed once the model is written

    # the same kind of model as an uninterrupted run, with the same weights (all random states were restored)
    state, card = load_model_file(out, "segmenter")
    assert card["training"]["resumed_from_step"] == start["step"]
    assert card["spec"]["filters"] == [4, 8, 16] and card["training"]["iterations"] == 12
    straight = tmp_path / "straight.safetensors"
    assert main(["train-segmenter", "--images", str(tiny_phantoms), "--out", str(straight), *TINY_ARCH, *SCHEDULE,
                 "--progress", "quiet"]) == 0
    reference, _ = load_model_file(straight, "segmenter")
    assert state.keys() == reference.keys()
    assert all(np.allclose(state[k].numpy(), reference[k].numpy(), atol=1e-5) for k in state)


def test_checkpoint_of_another_run_is_not_mixed_in(tiny_phantoms, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    args = ["train-segmenter", "--images", str(tiny_phantoms), "--out", str(out), *TINY_ARCH, "--progress", "quiet"]
    from IExplainLib.training import save_checkpoint
    save_checkpoint(tmp_path / "m.checkpoint.pt", {"step": 3, "spec": {}, "config": {}})
    assert main([*args, "--iterations", "2"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main([*args, "--iterations", "2", "--batch-size", "1", "--restart"]) == 0
    assert main([*args, "--iterations", "2"]) == 2  # the model exists now
    assert "already exists" in capsys.readouterr().err


def test_finetune_starts_from_the_model_and_scratch_does_not(tiny_model, tiny_phantoms, tmp_path):
    common = ["--data", str(tiny_phantoms), "--iterations", "1", "--batch-size", "1", "--warmup", "0",
              "--lr", "1e-9", "--progress", "quiet"]
    assert main(["finetune", "--from", str(tiny_model), "--out", str(tmp_path / "ft.safetensors"), *common]) == 0
    assert main(["finetune", "--from", "scratch", "--like", str(tiny_model),
                 "--out", str(tmp_path / "rand.safetensors"), *common]) == 0
    source, _ = load_model_file(tiny_model)
    tuned, tuned_card = load_model_file(tmp_path / "ft.safetensors")
    random, random_card = load_model_file(tmp_path / "rand.safetensors")
    key = "input_block.conv1.conv.weight"
    assert np.allclose(tuned[key].numpy(), source[key].numpy(), atol=1e-6)
    assert not np.allclose(random[key].numpy(), source[key].numpy(), atol=1e-3)
    assert tuned_card["training"]["init"] == "pretrained"
    assert tuned_card["training"]["pretrained_sha256"] == json.loads(tiny_model.with_suffix(".json").read_text())["sha256"]
    assert random_card["training"]["init"] == "random" and random_card["spec"] == tuned_card["spec"]
    assert tuned_card["training"]["data"]["cases"] == 3 and "finetune" in tuned_card["training"]["command"]


@pytest.mark.parametrize("arguments, message", [
    (["train-segmenter", "--images", "/nonexistent", "--out", "x.safetensors"], "not found"),
    (["finetune", "--from", "scratch", "--data", "{data}", "--out", "{tmp}/s.safetensors", "--filters", "4",
      "--patch-size", "16,32,32"], "at least 2 resolution levels"),
    (["finetune", "--from", "{tmp}/nope.safetensors", "--data", "{data}", "--out", "{tmp}/f.safetensors"],
     "not found"),
    (["train-segmenter", "--images", "{data}", "--out", "{tmp}/t.safetensors", "--patch-size", "16,32"],
     "three sizes"),
])
def test_bad_input_gets_a_one_line_error(arguments, message, tiny_phantoms, tmp_path, capsys):
    arguments = [a.format(data=tiny_phantoms, tmp=tmp_path) for a in arguments]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_label_on_another_grid_is_refused(tmp_path, capsys):
    study = tiny_study(5)
    root = write_dataset_json(tmp_path / "bad", {"c": study}, labels={"c": np.zeros((24, 32, 32), np.uint8)})
    assert main(["train-segmenter", "--images", str(root), "--out", str(tmp_path / "m.safetensors"),
                 *TINY_ARCH, "--progress", "quiet"]) == 2
    assert "does not match its CT" in capsys.readouterr().err


def test_a_rerun_removes_what_a_killed_save_left_and_says_so(tiny_phantoms, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    mine = tmp_path / ".partial-0123abcd-m.checkpoint.pt"  # a checkpoint save killed half-way
    theirs = tmp_path / ".partial-0123abcd-other.safetensors"  # another run's model, maybe being written now
    for path in (mine, theirs):
        path.write_bytes(b"half a file")
    assert main(["train-segmenter", "--images", str(tiny_phantoms), "--out", str(out), *TINY_ARCH,
                 "--iterations", "2", "--batch-size", "1", "--progress", "text"]) == 0
    stderr = capsys.readouterr().err
    assert "removed 1 temporary file(s) an interrupted run left" in stderr and mine.name in stderr
    assert not mine.exists() and theirs.exists() and out.exists()
