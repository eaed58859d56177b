"""The segmenter rows of `iexplain quality` alone (same held-out sets, same scoring, the card's filters), for
comparing segmenters without re-running iExplain. usage: python segmenter_quality.py SEGMENTER [SEGMENTER ...]"""
import sys

import numpy as np

from IExplainLib.evaluation.finding_metrics import FindingScore, score_mask, truth_instances
from IExplainLib.evaluation.quality_sets import RealCT, quality_sets, set_studies
from IExplainLib.explain.params import params_for_model
from IExplainLib.finding_filters import keep_findings
from IExplainLib.segmenter.inference import detect_with_segmenter, load_segmenter

for path in sys.argv[1:]:
    loaded = load_segmenter(path, "cpu")
    params = params_for_model(loaded.card)
    print(f"## {path} (filters: location {params.location_filter}, defect check {params.defect_check})")
    real_ct = RealCT(None)
    for item in quality_sets(False):
        total, negatives = FindingScore(), []
        for study in set_studies(item, real_ct):
            raw, _ = detect_with_segmenter(study.volume, path, loaded=loaded, filter=False)
            kept = keep_findings(raw, params, study.volume)
            labels, count = truth_instances(study.truth)
            score = score_mask(kept, labels, count)
            total = total + score
            if count == 0:
                negatives.append(score.as_dict()["findings"])
        d = total.as_dict()
        print(f"| {item.name} | {d['intersection']['f1'] or 0:.3f} ({d['intersection']['tp']}/{d['intersection']['fp']}/"
              f"{d['intersection']['fn']}) | {d['strict']['f1'] or 0:.3f} ({d['strict']['tp']}/{d['strict']['fp']}/"
              f"{d['strict']['fn']}) | {d['dice'] or 0:.3f} | "
              f"{np.mean(negatives) if negatives else float('nan'):.1f} |", flush=True)
