"""Multi-process training: torchrun with 2 CPU processes (gloo), the same code path as multi-GPU DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

from IExplainLib.classifier import load_classifier
from IExplainLib.modelfile import read_card


def test_torchrun_two_processes_train_one_model(tube_dataset, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp.safetensors"
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "IExplainLib.cli.main",
               "train-classifier", str(tube_dataset), "--out", str(out), "--input-size", "32", "--epochs", "2",
               "--batch-size", "4", "--samples-per-epoch", "32", "--warmup", "1", "--device", "cpu",
               "--progress", "json"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert run.returncode == 0, run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [e["stage"] for e in events].count("done") == 1  # only rank 0 reports and writes
    card = read_card(out)
    # 32 samples per epoch shared by 2 processes at batch 4: 4 steps per epoch, not 8
    assert card["training"]["world_size"] == 2 and card["training"]["steps"] == 8
    assert len(card["metrics"]["train_loss"]) == 2
    assert load_classifier(out).spec.input_size == 32
