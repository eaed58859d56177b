"""Where a classifier's slice AUROC is lost: AUROC by the clot area of the positive slices (every negative slice
kept in each stratum), and train against held-out studies (fit or generalisation?).

    python docs/reports/slice_diagnostics.py MODEL OUT.json DATA[:N] [DATA[:N] ...]

``DATA:N`` scores only the first N studies of a dataset folder. Prints one line per dataset and writes the per-slice
scores, labels and clot areas (mm2, from the voxel label) to OUT.json.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from IExplainLib.classifier.data import sources_from_dataset
from IExplainLib.classifier.inference import load_classifier, predict_slices
from IExplainLib.slice_metrics import auroc

AREA_BINS_MM2 = ((0, 5), (5, 20), (20, 50), (50, float("inf")))


def score_studies(model: str, specs: list[str]) -> list[dict]:
    loaded = load_classifier(model, "cpu")
    rows = []
    for spec in specs:
        root, _, limit = spec.partition(":")
        sources = sources_from_dataset(root)[: int(limit) if limit else None]
        for source in sources:
            volume = source.load()
            label = source.load_label()
            pixel_mm2 = float(label.spacing[0] * label.spacing[1])
            area = (label.array > 0).reshape(label.array.shape[0], -1).sum(axis=1) * pixel_mm2
            rows.append({"set": root, "case": source.id,
                         "scores": np.asarray(predict_slices(loaded.model, volume, loaded.spec, 32, "cpu")).tolist(),
                         "labels": np.asarray(source.slice_labels[: volume.shape[0]], float).tolist(),
                         "area_mm2": area.tolist()})
    return rows


def strata(rows: list[dict]) -> dict:
    labels = np.concatenate([r["labels"] for r in rows])
    scores = np.concatenate([r["scores"] for r in rows])
    area = np.concatenate([r["area_mm2"] for r in rows])
    negative = labels == 0
    out = {"slices": int(len(labels)), "positive": int(labels.sum()), "auroc": auroc(scores, labels)}
    for low, high in AREA_BINS_MM2:
        positive = (labels == 1) & (area >= low) & (area < high)
        chosen = positive | negative
        out[f"area {low}-{high} mm2"] = {"positive": int(positive.sum()),
                                         "auroc": auroc(scores[chosen], labels[chosen])
                                         if positive.sum() >= 3 else None}
    return out


def main(argv: list[str]) -> int:
    model, out, specs = argv[0], argv[1], argv[2:]
    rows = score_studies(model, specs)
    with open(out, "w") as handle:
        json.dump(rows, handle)
    for root in dict.fromkeys(r["set"] for r in rows):
        print(root, json.dumps(strata([r for r in rows if r["set"] == root])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
