"""Experiment 24h's data: the chest region's volume (litres) of every study of an experiment-23 cache, from the study
made again from its seed (the same generator call as ``exp23/cache.py``; no truth read), written beside the cache
as ``region_litres.json`` ({case_id: litres}).

python docs/reports/experiments/exp24/region_litres.py CACHE {phantom,real-anatomy}
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from studies import study_maker  # noqa: E402

from IExplainLib.chest_region import chest_region


def main():
    cache, kind = Path(sys.argv[1]), sys.argv[2]
    make = study_maker(kind)
    out = cache / "region_litres.json"
    litres = json.loads(out.read_text()) if out.exists() else {}
    for path in sorted((cache / "train").glob("*.npz")):
        if path.stem in litres:
            continue
        study = make(int(path.stem.rsplit("-", 1)[1]))
        region = chest_region(np.asarray(study.volume.array), study.volume.spacing)
        litres[path.stem] = float(region.sum() * np.prod(study.volume.spacing) / 1e6)
        out.write_text(json.dumps(litres, indent=1))
        print(path.stem, round(litres[path.stem], 2), flush=True)


if __name__ == "__main__":
    main()
