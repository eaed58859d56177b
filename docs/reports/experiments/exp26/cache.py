"""Experiment 26b's candidate caches: exp23/cache.py's layout under the rule with 25d's dim-vessel pass
(``--dim-ceiling``), and beside each study three more columns of each candidate in ``extra/`` (from the CT and the
candidates alone: no truth): whether the dim-vessel pass found it, the share of its 2-voxel shell that is a dim vessel
(``DIM_FLOOR_HU`` up to lumen), and its 90th percentile HU. A vein's partial-volume end cut from the vein keeps the
vein beside it in its shell; a clot that stops a vessel has lung, lumen and clot-density blood around it.

python docs/reports/experiments/exp26/cache.py OUT {phantom,real-anatomy} FIRST COUNT [--dim-ceiling 100] [--split-dim 100]
    [--stump-share 0.003] [--negative yes|no]
(experiments 26c and 26e: ``--split-dim 100`` without the dim-vessel pass; the pass, ``CandidateRule.dim_ceiling_hu``,
and the candidates' ``in_dim_vessel`` existed at commit 050d943 only: ``--dim-ceiling`` runs there; experiment 27:
``--stump-share 0.003``)
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp23"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp24"))

from cache import cache_parser, studies_to_write, write_study  # noqa: E402
from studies import study_maker  # noqa: E402

from IExplainLib.candidates.proposals import _NEAR, DEFAULT_RULE, find_candidates  # noqa: E402
from IExplainLib.filling_defects import LUMEN_HU  # noqa: E402
from IExplainLib.morphology import dilate, grown_box  # noqa: E402

DIM_FLOOR_HU = 100.0
EXTRA_NAMES = ("in_dim_vessel", "shell_dim_share", "p90_hu")


def extra_columns(hu: np.ndarray, candidates) -> np.ndarray:
    rows = []
    boxes = ndimage.find_objects(candidates.labels)
    for candidate in candidates.candidates:
        box = grown_box(boxes[candidate.label - 1], np.array([2, 2, 2]), hu.shape)
        core = candidates.labels[box] == candidate.label
        local = hu[box].astype(np.float32)
        shell = local[dilate(core, _NEAR) & ~core]
        dim = float(np.mean((shell >= DIM_FLOOR_HU) & (shell < LUMEN_HU[0]))) if shell.size else 0.0
        rows.append([float(getattr(candidate, "in_dim_vessel", False)), dim, float(np.percentile(local[core], 90))])
    return np.array(rows, np.float32).reshape(-1, len(EXTRA_NAMES))


def main():
    parser = cache_parser()
    parser.add_argument("--dim-ceiling", type=float)
    parser.add_argument("--split-dim", type=float, help="26c: the rule's split_dim_hu")
    parser.add_argument("--stump-share", type=float, help="27: the rule's stump_share")
    args = parser.parse_args()
    options = {"split_dim_hu": args.split_dim, "stump_share": args.stump_share}
    if args.dim_ceiling is not None:
        options["dim_ceiling_hu"] = args.dim_ceiling  # commit 050d943 only
    rule = replace(DEFAULT_RULE, **options)
    out = Path(args.out)
    for folder in ("train", "truth", "extra"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / "rule.json").write_text(json.dumps(rule.as_dict()))
    make = study_maker(args.kind)
    if args.negative is not None:
        from IExplainLib.phantoms import make_study

        def make(seed):
            return make_study(seed, slices=64, size=512, negative=args.negative == "yes")
    for name, study, start in studies_to_write(out, args.kind, args.first, args.count, make):
        candidates = find_candidates(study.volume, rule=rule)
        np.save(out / "extra" / f"{name}.npy", extra_columns(np.asarray(study.volume.array), candidates))
        write_study(out, name, study, candidates)
        dim = sum(getattr(c, "in_dim_vessel", False) for c in candidates.candidates)  # commit 050d943's pass
        print(f"{name}: {len(candidates)} candidates ({dim} dim), "
              f"{len(study.emboli)} emboli, {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
