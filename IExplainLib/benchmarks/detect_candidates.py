"""``iexplain detect --method candidates`` on a full-size study on two CPU threads: time and peak memory.

Target (issue 23): candidates plus reducer within 30 s and 2 GB for a 512x512x300 study on 2 cores. The command runs
as a user runs it (reading and writing included) in a fresh subprocess, so its peak resident memory is its own.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from .detect_cpu_preset import detect_in_child

TARGET_SECONDS = 30.0
TARGET_PEAK_GB = 2.0


def run(quick: bool = False, threads: int = 2, reducer: str | Path | None = None) -> dict:
    """Time ``detect --method candidates`` on a 512x512x300 phantom (quick: 96x96x16, a smoke run)."""
    from ..io import write_volume
    from ..phantoms import make_study

    size, slices = (96, 16) if quick else (512, 300)
    with tempfile.TemporaryDirectory(prefix="iexplain-bench-candidates-") as temporary:
        folder = Path(temporary)
        start = time.perf_counter()
        study = make_study(9102, slices=slices, size=size, slice_thickness=1.0, n_emboli=4)
        synth_seconds = time.perf_counter() - start
        ct = write_volume(folder / "ct.nrrd", study.volume)
        del study
        flags = ["--method", "candidates"] + (["--reducer", str(reducer)] if reducer else [])
        figures = detect_in_child(ct, folder / "out.seg.nrrd", threads, flags)
        findings = json.loads((folder / "out.findings.json").read_text())
    result = {
        "study_shape_zyx": [slices, size, size], "threads": threads, "reducer": Path(findings["model"]).name,
        "phantom_seconds_not_counted": round(synth_seconds, 1),
        "seconds": round(figures["seconds"], 1), "peak_rss_gb": round(figures["peak_rss_kb"] / 2 ** 20, 3),
        "candidates": findings["summary"]["candidates"], "findings": len(findings["findings"]),
        "target_seconds": TARGET_SECONDS, "target_peak_gb": TARGET_PEAK_GB,
    }
    if not quick:
        result["meets_targets"] = result["seconds"] < TARGET_SECONDS and result["peak_rss_gb"] < TARGET_PEAK_GB
    return result
