"""Slice-level evaluation of a trained classifier on labelled datasets: AUROC, and F1 at the model's threshold.

``python -m IExplainLib.classifier.evaluate MODEL DATA [DATA ...]`` prints one JSON object: the figures per
dataset and over all of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..slice_metrics import slice_metrics
from .data import sources_from_dataset
from .inference import load_classifier, predict_slices
from .metrics import card_slice_metrics


def evaluate_classifier(model_path: str | Path, datasets, device: str = "cpu", batch_size: int = 32) -> dict:
    loaded = load_classifier(model_path, device)
    report, all_labels, all_scores = {}, [], []
    for root in datasets:
        study_labels: list[np.ndarray] = []
        study_scores: list[np.ndarray] = []
        for source in sources_from_dataset(root):
            volume = source.load()
            if source.slice_labels is None:
                continue
            study_labels.append(np.asarray(source.slice_labels, dtype=np.float32)[: volume.shape[0]])
            study_scores.append(predict_slices(loaded.model, volume, loaded.spec, batch_size, device))
        labels, scores = np.concatenate(study_labels), np.concatenate(study_scores)
        report[str(root)] = card_slice_metrics(slice_metrics(scores, labels, loaded.threshold))
        all_labels.append(labels)
        all_scores.append(scores)
    report["all"] = card_slice_metrics(slice_metrics(np.concatenate(all_scores), np.concatenate(all_labels),
                                                      loaded.threshold))
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python -m IExplainLib.classifier.evaluate MODEL DATA [DATA ...]", file=sys.stderr)
        return 2
    print(json.dumps(evaluate_classifier(argv[0], argv[1:]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
