"""``detect --method segmenter`` on a full-size study: wall time and peak memory on two CPU threads.

Target: a 512x512x300 study in under 2 minutes and under 6 GB peak memory on 2 CPU cores. Each measurement runs in
a fresh subprocess (peak RSS: VmHWM of the child's own image, or ``resource.getrusage``), so runs cannot inflate each other, which
holds the CT as int16 the way a reader returns it. The reference is the straightforward run of the same model:
MONAI's sliding window over the whole study at once (no z-slab streaming); the ratios compare the two.
On CUDA (``device="cuda"``) the child runs the network on the GPU, drains the GPU queue
(``torch.cuda.synchronize``) before each clock reading and reports the GPU's peak allocated memory too; a ``model``
given (e.g. a freshly trained paper-size segmenter) replaces the demo one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .parts import PartCut

DEMO_MODEL = Path(__file__).resolve().parents[2] / "Resources" / "Models" / "demo-segmenter.safetensors"
TARGET_SECONDS = 120.0
TARGET_PEAK_GB = 6.0

_CHILD = r"""
import json, resource, sys, time

def peak_kb():
    # VmHWM is this process image's own peak; ru_maxrss on Linux also counts what the parent held at fork time
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

import numpy as np, torch
torch.set_num_threads(int(sys.argv[4]))
from IExplainLib.volume import Volume
from IExplainLib.segmenter import inference
array = np.load(sys.argv[1])
meta = json.loads(open(sys.argv[2]).read())
volume = Volume(array, meta["spacing"], meta["origin"])
baseline = peak_kb()
device = sys.argv[6]
cuda = device.startswith("cuda")
loaded = inference.load_segmenter(sys.argv[3], device)
slabs = None if sys.argv[5] == "whole" else inference.DEFAULT_SLAB_WINDOWS

def now():
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter()

if cuda:  # warm-up outside the clock: cuDNN picks its kernels on the first windows
    inference.segment_probability(Volume(array[:loaded.spec.patch_size[0]], meta["spacing"], meta["origin"]), loaded)
    torch.cuda.reset_peak_memory_stats()
start = now()
probability = inference.segment_probability(volume, loaded, slab_windows=slabs)
from IExplainLib.findings import filter_findings
mask = filter_findings(probability >= loaded.spec.threshold).astype(np.uint8)
seconds = now() - start
peak = peak_kb()
print(json.dumps({"seconds": seconds, "peak_rss_kb": peak, "rss_before_model_kb": baseline,
                  "found_voxels": int(mask.sum()), "network_spec": loaded.spec.describe(),
                  "gpu_peak_allocated_gb": torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None}))
"""


def _model_path(folder: Path) -> tuple[Path, str]:
    """The bundled demo segmenter, or (where it is absent) an untrained network of the same default spec: the
    timing does not depend on the weights."""
    if DEMO_MODEL.exists():
        return DEMO_MODEL, "bundled demo segmenter"
    from ..modelfile import save_model
    from ..segmenter.spec import ARCHITECTURE, SegmenterSpec, build_network, portable_state_dict

    spec = SegmenterSpec(filters=(4, 8, 16, 32), patch_size=(32, 64, 64), inplane_spacing_mm=2.0)
    path = folder / "untrained.safetensors"
    save_model(path, portable_state_dict(build_network(spec)),
               {"kind": "segmenter", "architecture": ARCHITECTURE, "spec": spec.to_card()})
    return path, "untrained network with the demo spec (demo model absent)"


class ChildTimeUp(PartCut):
    """The measuring child was stopped at the bench's deadline."""


def _measure(array_path: Path, meta_path: Path, model: Path, threads: int, mode: str, device: str = "cpu",
             deadline: float | None = None) -> dict:
    """One measurement in a fresh child process, stopped at ``deadline`` (a ``time.monotonic()`` value:
    :class:`ChildTimeUp`); a child that ran out of GPU memory raises ``torch.cuda.OutOfMemoryError`` here."""
    timeout = 1800.0 if deadline is None else max(1.0, min(1800.0, deadline - time.monotonic()))
    try:
        result = subprocess.run([sys.executable, "-c", _CHILD, str(array_path), str(meta_path), str(model),
                                 str(threads), mode, device], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise ChildTimeUp(f"stopped at the time limit after {timeout:.0f} s") from error
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        if "OutOfMemoryError" in last or "MemoryError" in last:
            import torch

            raise torch.cuda.OutOfMemoryError(f"segmenter benchmark child: {last}")
        raise RuntimeError(f"segmenter benchmark child failed: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(quick: bool = False, threads: int = 2, reference: bool = True, device: str = "cpu",
        model: str | Path | None = None, slices: int | None = None, size: int = 512,
        deadline: float | None = None) -> dict:
    """Time the streamed detection (and the whole-volume reference) on a 512x512x300 phantom (quick: 512x512x64;
    ``slices``/``size`` change it). ``deadline`` (a ``time.monotonic()`` value): no part starts after it and a
    measuring child still running then is stopped; a part out of memory is named under ``errors``; the figures of
    the parts done are kept (:mod:`.parts`)."""
    import numpy as np

    from ..devices import resolve_device
    from ..phantoms import make_study
    from .parts import BenchParts

    device = str(resolve_device(device))
    parts = BenchParts(deadline, resolve_device(device))
    slices = slices or (64 if quick else 300)
    with tempfile.TemporaryDirectory(prefix="iexplain-bench-seg-") as temporary:
        folder = Path(temporary)

        def phantom() -> tuple[list[int], float]:
            start = time.perf_counter()
            study = make_study(9100, slices=slices, size=size, slice_thickness=1.0, n_emboli=4)
            seconds = time.perf_counter() - start
            np.save(folder / "ct.npy", study.volume.array.astype(np.int16))
            (folder / "meta.json").write_text(json.dumps({"spacing": study.volume.spacing,
                                                          "origin": study.volume.origin}))
            return list(study.volume.shape), seconds

        made = parts.run("phantom", phantom)
        model, model_note = (Path(model), f"given model {Path(model).name}") if model else _model_path(folder)

        def measure(mode: str) -> dict:
            return _measure(folder / "ct.npy", folder / "meta.json", model, threads, mode, device, deadline)

        streamed = parts.run("streamed", lambda: measure("slabs"), needs=("phantom",))
        whole = parts.run("whole", lambda: measure("whole"), needs=("streamed",)) if reference else None
    shape, synth_seconds = made or ([slices, size, size], 0.0)
    figures: dict = {"study_shape_zyx": shape, "threads": threads, "device": device, "model": model_note,
                     "phantom_seconds_not_counted": round(synth_seconds, 1),
                     "target_seconds": TARGET_SECONDS, "target_peak_gb": TARGET_PEAK_GB}
    if streamed is None:
        return {**figures, **parts.summary()}
    figures.update({
        "network": streamed["network_spec"],
        "seconds": round(streamed["seconds"], 1),
        "peak_rss_gb": round(streamed["peak_rss_kb"] / 2 ** 20, 3),
        "rss_before_model_gb": round(streamed["rss_before_model_kb"] / 2 ** 20, 3),
    })
    if streamed.get("gpu_peak_allocated_gb") is not None:
        figures["gpu_peak_allocated_gb"] = round(streamed["gpu_peak_allocated_gb"], 3)
    if not quick and device == "cpu":
        figures["meets_targets"] = (figures["seconds"] < TARGET_SECONDS and figures["peak_rss_gb"] < TARGET_PEAK_GB)
    if whole is not None:
        figures.update({
            "reference_whole_volume_seconds": round(whole["seconds"], 1),
            "reference_whole_volume_peak_rss_gb": round(whole["peak_rss_kb"] / 2 ** 20, 3),
            "speed_ratio_reference_over_streamed": round(whole["seconds"] / max(streamed["seconds"], 1e-6), 2),
            "peak_memory_ratio_reference_over_streamed": round(whole["peak_rss_kb"] / streamed["peak_rss_kb"], 2),
        })
    return {**figures, **parts.summary()}
