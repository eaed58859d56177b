"""Experiment 22's identity check for speed work on ``detect --method candidates`` (issue 23): a faster
implementation must give bit-identical outputs. On a few studies it records the chest region, the defect mask of
``filling_defects`` (what the segmenter's filters read), the candidate label volume and every candidate's features,
calibre, slice range and description, their patches, and the detector's findings and segmentation; then compares a
later run against that record, and times the steps (wall and CPU seconds).

python docs/reports/experiments/exp22/candidates_identical.py baseline DIR [--only NAME ...]
python docs/reports/experiments/exp22/candidates_identical.py check DIR [--only NAME ...] [--reducer R]

Studies (cached under DIR/studies so that the phantoms are made once): ``bench`` is the 512x512x300 phantom of
``iexplain bench --only detect-candidates`` (seed 9102); ``p8000`` and ``p8001`` are 512x512x64 phantoms as
experiment 18 caches them; ``real`` is a 48-slice real-anatomy CT angiogram as experiment 20 caches them (it needs the
real CT, which is read where it lies and never copied).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before NumPy loads its thread pool: the bench's two threads
import numpy as np  # noqa: E402

STUDIES = ("bench", "p8000", "p8001", "real")


def make_volume(name: str):
    if name == "bench":
        from IExplainLib.phantoms import make_study

        return make_study(9102, slices=300, size=512, slice_thickness=1.0, n_emboli=4).volume
    if name in ("p8000", "p8001"):
        from IExplainLib.phantoms import make_study

        return make_study(int(name[1:]), slices=64, size=512).volume
    if name == "real":
        from IExplainLib.evaluation.quality_sets import RealCT
        from IExplainLib.phantoms.real_anatomy import make_real_anatomy_study

        return make_real_anatomy_study(RealCT().anatomy(None), 20001, slices=48).volume
    raise ValueError(name)


def cached_volume(folder: Path, name: str):
    from IExplainLib.volume import Volume

    path = folder / "studies" / f"{name}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        volume = make_volume(name)
        np.savez(path, array=volume.array, spacing=volume.spacing, origin=volume.origin, direction=volume.direction)
    with np.load(path) as data:
        return Volume(data["array"], tuple(data["spacing"]), tuple(data["origin"]), data["direction"])


def outputs(volume, timings: dict, reducer: str | None = None) -> dict:
    """Every output the speed work must keep, as arrays (strings as JSON)."""
    from IExplainLib.candidates.detector import CandidateDetector
    from IExplainLib.candidates.proposals import SESSION17_RULE, find_candidates
    from IExplainLib.candidates.training_data import study_candidates
    from IExplainLib.chest_region import chest_region
    from IExplainLib.cli.commands_explain import DEFAULT_REDUCER
    from IExplainLib.contrast_check import check_contrast
    from IExplainLib.filling_defects import core_features, defect_mask

    def timed(step, function, *args, **kwargs):
        from IExplainLib import chest_region as module

        module._LAST_LUNGS = None  # each step from cold (the lungs are remembered between calls since this session)
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args, **kwargs)
        timings[step] = [round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)]
        return result

    hu = np.asarray(volume.array)
    out = {}
    region = timed("chest_region", chest_region, hu, volume.spacing)
    out["region"] = region
    cores, rows = timed("core_features", core_features, region, hu, volume.spacing)
    out["cores"] = cores
    out["core_rows"] = np.array([[r["label"], r["mm3"], r["lumen_share"], r["bone_share"]] for r in rows],
                                float).reshape(-1, 4)
    del cores
    out["defects"] = timed("defect_mask", defect_mask, region, hu, volume.spacing)
    for tag, rule in (("", None), ("s17_", SESSION17_RULE)):
        kwargs = {} if rule is None else {"rule": rule}
        found = timed(f"{tag}find_candidates", find_candidates, volume, **kwargs)
        out[f"{tag}labels"] = found.labels
        out[f"{tag}features"] = found.features()
        out[f"{tag}feature_rows"] = (np.stack([c.features for c in found.candidates]) if len(found)
                                     else np.zeros((0, 14), np.float32))
        out[f"{tag}described"] = np.array(json.dumps(
            [[c.label, c.voxels, c.volume_mm3, c.calibre, c.radius_mm, c.contrast_hu, list(c.centroid_zyx),
              list(c.slice_range), c.as_row(volume)] for c in found.candidates]))
        out[f"{tag}region"] = found.region
        if rule is None:
            data = timed("patches", study_candidates, "s", volume, found, np.zeros(volume.shape[0], bool))
            out["patches"] = data.patches
            out["slice_ranges"] = data.slice_ranges
        del found
    detector = CandidateDetector(reducer or DEFAULT_REDUCER)

    def study_step():  # as ``detect`` runs it: the study step's contrast check, then the detector's (no reading)
        check_contrast(volume)
        return detector.explain(volume)

    detection = timed("detector", study_step)
    out["seg"] = np.asarray(detection.labelmap.array)
    out["heat"] = np.asarray(detection.heat.array)
    summary = {k: v for k, v in detection.summary.items() if k != "seconds"}
    out["findings"] = np.array(json.dumps([detection.findings, summary, detection.iterations], sort_keys=True))
    return out


def same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":  # bit for bit, NaNs included
        return a.view(f"u{a.dtype.itemsize}").tobytes() == b.view(f"u{b.dtype.itemsize}").tobytes()
    return bool(np.array_equal(a, b))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("baseline", "check"))
    parser.add_argument("folder")
    parser.add_argument("--only", nargs="*", choices=STUDIES, default=list(STUDIES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reducer", help="the reducer of the baseline's findings (default: the bundled one; a "
                                          "record made before the bundled reducer changed needs the one it had)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    folder = Path(args.folder)
    failures = 0
    for name in args.only:
        volume = cached_volume(folder, name)
        timings: dict = {}
        result = outputs(volume, timings, args.reducer)
        record = folder / f"{name}.npz"
        line = {"study": name, "shape": list(volume.shape), "seconds_wall_cpu": timings}
        if args.mode == "baseline":
            np.savez_compressed(record, **result)
            line["saved"] = str(record)
        else:
            with np.load(record) as data:
                differ = sorted(set(data.files) ^ set(result))
                differ += [key for key in data.files if key in result and not same(data[key], np.asarray(result[key]))]
            line["identical"] = not differ
            line["differ"] = differ
            failures += bool(differ)
        print(json.dumps(line), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
