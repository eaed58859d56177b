"""Classifier threshold at a slice sensitivity on the tuning studies (seeds 8000-8999):
python slice_threshold.py MODEL SENS DATA... [--max-negative-share X]

With --max-negative-share the threshold is raised, when needed, until at most that share of negative tuning slices
lies above it: every slice above the threshold is explained by Stage 2, so the share bounds detect's CPU time."""
import sys, json
import numpy as np
from IExplainLib.classifier.data import sources_from_dataset
from IExplainLib.classifier.inference import load_classifier, predict_slices
arguments = sys.argv[1:]
max_share = None
if "--max-negative-share" in arguments:
    at = arguments.index("--max-negative-share")
    max_share = float(arguments[at + 1])
    del arguments[at:at + 2]
model, target, roots = arguments[0], float(arguments[1]), arguments[2:]
loaded = load_classifier(model, "cpu")
labels, scores = [], []
for root in roots:
    for source in sources_from_dataset(root):
        volume = source.load()
        labels.append(np.asarray(source.slice_labels, np.float32)[: volume.shape[0]])
        scores.append(predict_slices(loaded.model, volume, loaded.spec, 32, "cpu"))
labels, scores = np.concatenate(labels), np.concatenate(scores)
positive = np.sort(scores[labels > 0])[::-1]
threshold = float(positive[int(np.ceil(target * len(positive))) - 1])
if max_share is not None:
    threshold = max(threshold, float(np.quantile(scores[labels == 0], 1.0 - max_share)))
print(json.dumps({"threshold": threshold, "slice_sensitivity": float((scores[labels > 0] >= threshold).mean()),
                  "negatives_above": float((scores[labels == 0] >= threshold).mean()), "slices": int(len(labels))}))
