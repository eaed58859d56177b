"""``iexplain detect`` with the fast attribution preset on a full-size study on two CPU threads: time and peak memory.

Target (issue 13): a 512x512x300 CTPA in under 3 minutes and under 4 GB on 2 CPU cores, with the bundled demo
classifier. The command runs as a user runs it (``iexplain detect CT.nrrd -o OUT.seg.nrrd --preset fast --device
cpu``, reading included) in a fresh subprocess, so its peak resident memory (VmHWM) is its own. The quality cost of
the preset (F1 against the paper's settings) is measured separately, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 180.0
TARGET_PEAK_GB = 4.0

_CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from IExplainLib.cli.main import main
start = time.perf_counter()
code = main(sys.argv[2:])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1])
print(json.dumps({"code": code, "seconds": seconds, "peak_rss_kb": peak}))
"""


def detect_in_child(ct: Path, out: Path, threads: int, flags: list[str]) -> dict:
    """``iexplain detect CT -o OUT *flags`` in a fresh process on ``threads`` threads: exit code, seconds (reading
    included) and peak resident memory (kB)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-c", _CHILD, str(threads), "detect", str(ct), "-o", str(out), "--progress", "quiet",
               *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"detect benchmark child failed: {result.stderr.strip().splitlines()[-1:]}")
    figures = json.loads(lines[-1])
    if figures["code"] != 0:
        raise RuntimeError(f"detect exited {figures['code']}: {result.stderr.strip().splitlines()[-1:]}")
    return figures


def detect_on_phantom(seed: int, size: int, slices: int, threads: int, flags: list[str]) -> tuple[dict, dict, float]:
    """A phantom written as a CT file, then ``detect`` on it in its own process: ``(figures, findings document,
    seconds the phantom took)``; the phantom's time is not the command's."""
    from ..io import write_volume
    from ..phantoms import make_study

    with tempfile.TemporaryDirectory(prefix="iexplain-bench-detect-") as temporary:
        folder = Path(temporary)
        start = time.perf_counter()
        study = make_study(seed, slices=slices, size=size, slice_thickness=1.0, n_emboli=4)
        synth_seconds = time.perf_counter() - start
        ct = write_volume(folder / "ct.nrrd", study.volume)
        del study
        figures = detect_in_child(ct, folder / "out.seg.nrrd", threads, flags)
        findings = json.loads((folder / "out.findings.json").read_text())
    return figures, findings, synth_seconds


def run(quick: bool = False, threads: int = 2) -> dict:
    """Time ``detect --preset fast`` on a 512x512x300 phantom (quick: 64x64x12, one iteration: a smoke run)."""
    from ..explain.presets import PRESETS

    size, slices = (64, 12) if quick else (512, 300)
    flags = ["--preset", "fast", "--device", "cpu"] + (["--max-iterations", "1"] if quick else [])
    figures, findings, synth_seconds = detect_on_phantom(9101, size, slices, threads, flags)
    result = {
        "study_shape_zyx": [slices, size, size], "threads": threads, "preset": "fast",
        "preset_settings": PRESETS["fast"], "classifier": Path(findings["model"]).name,
        "phantom_seconds_not_counted": round(synth_seconds, 1),
        "seconds": round(figures["seconds"], 1), "peak_rss_gb": round(figures["peak_rss_kb"] / 2 ** 20, 3),
        "iterations": findings["iterations"], "findings": len(findings["findings"]),
        "target_seconds": TARGET_SECONDS, "target_peak_gb": TARGET_PEAK_GB,
    }
    if not quick:
        result["meets_targets"] = result["seconds"] < TARGET_SECONDS and result["peak_rss_gb"] < TARGET_PEAK_GB
    return result
