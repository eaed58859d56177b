"""Experiment 22h: does the HU distribution inside each candidate tell real-anatomy clots from look-alikes? The
clots the shipped reducer misses on real-anatomy tuning studies have a spread of 63 HU against 24 for those it finds
(a clot joined to wall or fat in one candidate), and its mean and spread alone call that a look-alike. Per cached
candidate: the 10th, 50th and 90th HU percentile, the share of its voxels at clot density (0-120 HU) and the share
below -30 HU (fat, lung partial volume). Made as ``extra_features.py`` makes its columns (the study made again, its
candidates found again and checked against the cache); no slice label or truth is read.

python docs/reports/experiments/exp22/hu_features.py CACHE OUT [--first N --count N]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from extra_features import CACHE_RULE, study_volume  # noqa: E402

from IExplainLib.candidates.proposals import find_candidates  # noqa: E402
from IExplainLib.candidates.training_data import StudyCandidates  # noqa: E402

HU_NAMES = ("hu_p10", "hu_p50", "hu_p90", "clot_share", "fat_share")


def hu_features(volume, cached: StudyCandidates) -> np.ndarray:
    candidates = find_candidates(volume, rule=CACHE_RULE)
    if len(candidates) != len(cached) or not np.allclose(candidates.features(), cached.features, atol=1e-4):
        raise SystemExit(f"{cached.case_id}: the candidates found again differ from the cache's")
    hu = np.asarray(volume.array, np.float32)
    columns = np.zeros((len(cached), len(HU_NAMES)), np.float32)
    for i, where in enumerate(ndimage.find_objects(candidates.labels, len(cached))):
        if where is None:
            continue
        values = hu[where][candidates.labels[where] == i + 1]
        columns[i, :3] = np.percentile(values, [10, 50, 90])
        columns[i, 3] = np.mean((values >= 0) & (values <= 120))
        columns[i, 4] = np.mean(values < -30)
    return columns


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("out")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=10 ** 6)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((Path(args.cache) / "train").glob("*.npz"))[args.first:args.first + args.count]:
        target = out / path.name
        if target.exists():
            continue
        start = time.time()
        cached = StudyCandidates.load(path)
        columns = hu_features(study_volume(path.stem, len(cached.slice_labels)), cached)
        np.savez_compressed(target, extras=columns, names=np.array(HU_NAMES))
        print(f"{path.stem}: {len(cached)} candidates, {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
