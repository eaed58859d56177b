"""How much the phantoms' emboli look like filling defects: the realism table of docs/phantoms.md.

Per embolus (each label of the truth): its median HU, and the share of the 2-voxel ring around it (6-connected
dilation, twice, other emboli excluded) whose HU is in the opacified-lumen range (``LUMEN_RANGE_HU``). A filling
defect is a grey clot with white contrast beside it, so a clot whose ring is all lung or fat is not one.
Per set: the medians, the share of emboli with at least ``RING_LUMEN_MIN`` of the ring in lumen, the calibre class
mix, and the share of PE-positive studies with a central or lobar embolus.

    python -m IExplainLib.phantoms.realism --anatomy ../shared/data/real-ct/popi_4dct_phase00_chest_ct \\
        --studies 3 --seed 4242 [--phantoms 3 --phantom-seed 77] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np
from scipy import ndimage

LUMEN_RANGE_HU = (180.0, 700.0)
RING_LUMEN_MIN = 0.3
CALIBRE_ORDER = ("central", "lobar", "segmental", "subsegmental")


def embolus_measures(image: np.ndarray, truth: np.ndarray) -> list[dict]:
    """``{label, clot_hu, ring_lumen_share}`` of each embolus of an instance ``truth`` over ``image`` (HU)."""
    measures = []
    for label in [int(v) for v in np.unique(truth) if v]:
        clot = truth == label
        ring = ndimage.binary_dilation(clot, iterations=2) & (truth == 0)
        ring_hu = image[ring]
        in_lumen = (ring_hu >= LUMEN_RANGE_HU[0]) & (ring_hu <= LUMEN_RANGE_HU[1])
        measures.append({"label": label, "clot_hu": float(np.median(image[clot])),
                         "ring_lumen_share": float(in_lumen.mean()) if ring_hu.size else 0.0})
    return measures


def set_realism(studies) -> dict:
    """The realism figures of a set of ``SyntheticStudy`` objects (phantoms or real-anatomy)."""
    rows: list[dict] = []
    calibres: Counter[str] = Counter()
    positives = central_or_lobar = 0
    for study in studies:
        rows += embolus_measures(study.volume.array.astype(np.float32), study.truth)
        classes = [embolus.get("calibre", embolus.get("level")) for embolus in study.emboli]
        calibres.update(classes)
        if classes:
            positives += 1
            central_or_lobar += any(c in ("central", "lobar") for c in classes)
    shares = np.array([row["ring_lumen_share"] for row in rows])
    total = sum(calibres.values())
    return {"emboli": len(rows), "positive_studies": positives,
            "median_clot_hu": float(np.median([row["clot_hu"] for row in rows])) if rows else None,
            "median_ring_lumen_share": float(np.median(shares)) if rows else None,
            "share_ring_lumen_at_least_0.3": float(np.mean(shares >= RING_LUMEN_MIN)) if rows else None,
            "calibre_mix": {c: round(calibres[c] / total, 3) for c in CALIBRE_ORDER} if total else {},
            "positive_studies_with_central_or_lobar": central_or_lobar / positives if positives else None}


def markdown_row(name: str, figures: dict) -> str:
    mix = ", ".join(f"{c} {100 * figures['calibre_mix'].get(c, 0):.0f}%" for c in CALIBRE_ORDER)

    def number(key, form):
        return "-" if figures[key] is None else format(figures[key], form)

    return (f"| {name} | {figures['emboli']} | {number('median_clot_hu', '.0f')} | "
            f"{number('median_ring_lumen_share', '.2f')} | {100 * (figures['share_ring_lumen_at_least_0.3'] or 0):.0f}% "
            f"| {mix} | {figures['positive_studies']} ({100 * (figures['positive_studies_with_central_or_lobar'] or 0):.0f}%) |")


MARKDOWN_HEADER = ("| set | emboli | median clot HU | median ring-in-lumen share | emboli with >= 30% of the ring in "
                   "lumen | calibre mix | positive studies (with a central or lobar embolus) |\n"
                   "|---|---|---|---|---|---|---|")


def quality_set_studies(analysis) -> list:
    """The studies of the full real-anatomy set of ``iexplain quality``, made the way that command makes them."""
    from ..evaluation.quality_sets import FULL_SETS
    from .real_anatomy import make_real_anatomy_study

    item = next(item for item in FULL_SETS if item.kind == "real-anatomy")
    flags = [(seed, False) for seed in item.positive_seeds] + [(seed, True) for seed in item.negative_seeds]
    return [make_real_anatomy_study(analysis, seed, negative=negative, slices=item.slices) for seed, negative in flags]


def write_calibre_preview(analysis, seed: int, path, slices: int | None = None):
    """A PNG montage of one real-anatomy study with a clot of every calibre class, one column per clot."""
    from .preview import pick_slices, write_preview
    from .real_anatomy import make_real_anatomy_study
    from .real_emboli import CALIBRES

    study = make_real_anatomy_study(analysis, seed, calibres=list(CALIBRES), slices=slices)
    columns = [k for k in pick_slices(study.truth, len(study.emboli)) if study.truth[k].any()]
    title = f"POPI chest CT + simulated CTPA contrast, a clot of each calibre, seed {seed}"
    return write_preview(study, path, slices=columns, lung_window=False, title=title, overwrite=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m IExplainLib.phantoms.realism", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anatomy", default=None, help="real chest CT for real-anatomy studies")
    parser.add_argument("--studies", type=int, default=3, help="real-anatomy studies")
    parser.add_argument("--seed", type=int, default=4242, help="seed of the first real-anatomy study")
    parser.add_argument("--slices", type=int, default=None, help="real-anatomy slab (default: the whole CT)")
    parser.add_argument("--positive", action="store_true", help="force PE-positive real-anatomy studies")
    parser.add_argument("--phantoms", type=int, default=0, help="plain synthetic phantoms (make_study)")
    parser.add_argument("--phantom-seed", type=int, default=77)
    parser.add_argument("--phantom-slices", type=int, default=120)
    parser.add_argument("--quality-set", action="store_true",
                        help="also the real-anatomy set of `iexplain quality` (its seeds and slabs, on --anatomy)")
    parser.add_argument("--markdown", action="store_true", help="print table rows instead of JSON")
    parser.add_argument("--preview", default=None, metavar="PNG",
                        help="also write a montage of one real-anatomy clot of every calibre class (study --seed)")
    args = parser.parse_args(argv)
    results = {}
    if args.phantoms:
        from .study import make_study

        studies = [make_study(args.phantom_seed + i, slices=args.phantom_slices) for i in range(args.phantoms)]
        results[f"synth phantoms (seed {args.phantom_seed}, {args.phantoms} studies)"] = set_realism(studies)
    if args.anatomy:
        from .real_anatomy import analyse_anatomy, load_anatomy, make_real_anatomy_study

        analysis = analyse_anatomy(load_anatomy(args.anatomy))
        studies, seconds = [], []
        for i in range(args.studies):
            start = time.perf_counter()
            studies.append(make_real_anatomy_study(analysis, args.seed + i, slices=args.slices,
                                                   negative=False if args.positive else None))
            seconds.append(time.perf_counter() - start)
        figures = set_realism(studies)
        figures["seconds_per_study"] = round(float(np.mean(seconds)), 2)
        results[f"synth --anatomy (seed {args.seed}, {args.studies} studies)"] = figures
        if args.quality_set:
            results["`iexplain quality` real-anatomy set"] = set_realism(quality_set_studies(analysis))
        if args.preview:
            write_calibre_preview(analysis, args.seed, args.preview, args.slices)
    if args.markdown:
        print(MARKDOWN_HEADER)
        for name, figures in results.items():
            print(markdown_row(name, figures))
    else:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
