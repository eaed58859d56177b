"""Classifier threshold at a slice sensitivity on the tuning studies (seeds 8000-8999): python slice_threshold.py MODEL SENS DATA..."""
import sys, json
import numpy as np
from IExplainLib.classifier.data import sources_from_dataset
from IExplainLib.classifier.inference import load_classifier, predict_slices
model, target, roots = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
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
print(json.dumps({"threshold": threshold, "slice_sensitivity": float((scores[labels > 0] >= threshold).mean()),
                  "negatives_above": float((scores[labels == 0] >= threshold).mean()), "slices": int(len(labels))}))
