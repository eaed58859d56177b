"""Segmenter probability threshold on the tuning studies (seeds 8000-8999), with the card's finding filters:
python segmenter_threshold.py MODEL THRESHOLDS DATA...   (THRESHOLDS comma-separated; prints one JSON row each)."""
import json
import sys

import numpy as np

from IExplainLib.classifier.data import sources_from_dataset
from IExplainLib.evaluation.finding_metrics import score_mask, truth_instances
from IExplainLib.explain.params import params_for_model
from IExplainLib.finding_filters import keep_findings
from IExplainLib.segmenter.inference import load_segmenter, segment_probability

model, thresholds, roots = sys.argv[1], [float(t) for t in sys.argv[2].split(",")], sys.argv[3:]
loaded = load_segmenter(model, "cpu")
filters = params_for_model(loaded.card)
totals = {t: None for t in thresholds}
studies = 0
for root in roots:
    for source in sources_from_dataset(root):
        volume, truth = source.load(), source.load_label()
        labels, count = truth_instances(truth.array)
        from IExplainLib.progress import QUIET
        probability = segment_probability(volume, loaded, QUIET)
        studies += 1
        for t in thresholds:
            score = score_mask(keep_findings(probability >= t, filters, volume), labels, count)
            totals[t] = score if totals[t] is None else totals[t] + score
for t in thresholds:
    row = totals[t].as_dict()
    print(json.dumps({"threshold": t, "studies": studies, **row}))
