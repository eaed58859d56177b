"""``iexplain detect --method candidates`` on a full-size study on two CPU threads: time and peak memory.

Target (issue 23): candidates plus reducer within 30 s and 2 GB for a 512x512x300 study on 2 cores. The command runs
as a user runs it (reading and writing included) in a fresh subprocess, so its peak resident memory is its own.
"""

from __future__ import annotations

from pathlib import Path

from .detect_cpu_preset import detect_on_phantom

TARGET_SECONDS = 30.0
TARGET_PEAK_GB = 2.0


def run(quick: bool = False, threads: int = 2, reducer: str | Path | None = None) -> dict:
    """Time ``detect --method candidates`` on a 512x512x300 phantom (quick: 96x96x16, a smoke run)."""
    size, slices = (96, 16) if quick else (512, 300)
    flags = ["--method", "candidates"] + (["--reducer", str(reducer)] if reducer else [])
    figures, findings, synth_seconds = detect_on_phantom(9102, size, slices, threads, flags)
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
