"""Experiment 27's diagnosis: the candidates a looser lumen check adds (shell 0.3-3% lumen, experiment 24b's rule) and
where along each one its lumen lies. An occlusive clot's shell touches lumen only at the artery's stump, one end of
the clot's long axis; a partial-volume lung vessel touching a speck of lumen touches it anywhere. The truth is read to
diagnose the candidate pass; nothing trains on it.

python docs/reports/experiments/exp27/stump_diag.py {real,synth,quality} FIRST_SEED COUNT > OUT.jsonl
(``quality``: the quality command's phantoms, 9300-9303 forced PE-positive, 9304-9305 PE-negative)
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp24"))

from studies import study_maker  # noqa: E402

import IExplainLib.candidates.proposals as proposals  # noqa: E402
from IExplainLib.filling_defects import LUMEN_HU  # noqa: E402

LOOSE_SHARE = 0.003


def axis_profile(core: np.ndarray, lumen_shell: np.ndarray, spacing_zyx: np.ndarray) -> dict:
    """The core's long axis (its voxels' first principal direction, mm) and where the shell's lumen lies along it."""
    points = np.argwhere(core) * spacing_zyx
    centre = points.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((points - centre).T) + 1e-6 * np.eye(3))
    axis = vectors[:, -1]
    t = (points - centre) @ axis
    length = float(np.ptp(t)) + float(np.abs(axis) @ spacing_zyx)
    width = 4.0 * float(np.sqrt(max(values[1], 1e-6)))
    lumen_points = np.argwhere(lumen_shell) * spacing_zyx
    if not len(lumen_points):
        return {"len": round(length, 1), "wid": round(width, 1), "end": 0.0, "ends": 0, "off": None}
    lt = (lumen_points - centre) @ axis
    radial = np.linalg.norm((lumen_points - centre) - np.outer(lt, axis), axis=1)
    margin = 0.25 * length
    low, high = lt <= t.min() + margin, lt >= t.max() - margin
    end_share = float((low | high).mean())
    return {"len": round(length, 1), "wid": round(width, 1), "end": round(end_share, 3),
            "ends": int(low.any()) + int(high.any()),
            "off": round(float(np.median(radial[low | high])) if (low | high).any() else -1.0, 2)}


def main():
    kind, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if kind == "quality":
        from IExplainLib.phantoms import make_study

        def make(seed):
            return make_study(seed, slices=64, size=512, negative=seed >= 9304)
    else:
        make = study_maker(kind)
    proposals.MIN_LUMEN_SHARE = LOOSE_SHARE
    for seed in range(first, first + count):
        study = make(seed)
        hu = np.asarray(study.volume.array)
        sx, sy, sz = study.volume.spacing
        spacing_zyx = np.array([sz, sy, sx])
        found = proposals.find_candidates(study.volume)
        truth = np.asarray(study.truth)
        rows = []
        for candidate, box in zip(found.candidates, ndimage.find_objects(found.labels)):
            share = float(candidate.features[1])
            grown = tuple(slice(max(0, s.start - 2), min(n, s.stop + 2)) for s, n in zip(box, hu.shape))
            core = found.labels[grown] == candidate.label
            near = ndimage.binary_dilation(core, np.ones((5, 5, 5), bool))
            local = hu[grown]
            shell_lumen = near & ~core & (local >= LUMEN_HU[0]) & (local <= LUMEN_HU[1])
            clot = truth[grown][core]
            row = {"share": round(share, 4), "mm3": round(candidate.volume_mm3), "hu": round(float(candidate.features[4])),
                   "calibre": candidate.calibre, "clot": round(float((clot > 0).mean()), 3),
                   "emb": sorted({int(v) - 1 for v in np.unique(clot) if v})}
            row.update(axis_profile(core, shell_lumen, spacing_zyx))
            rows.append(row)
        print(json.dumps({"seed": seed, "emboli": len(study.emboli), "n": len(rows), "rows": rows}), flush=True)


if __name__ == "__main__":
    main()
