"""Plots the held-out learning curve of the experiment log: slice AUROC against classifier training CPU minutes.

Usage: python docs/reports/learning_curve.py docs/reports/experiments/curve.json docs/reports/experiments/learning_curve.png

curve.json: {"lines": {NAME: [[cpu_minutes, auroc_synthetic, auroc_real], ...]}}; each line is one recipe, its
points in training order (cumulative CPU minutes of classifier training, the bundled model's history included).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(curve_json: str, png: str) -> None:
    lines = json.load(open(curve_json))["lines"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 6.2), sharey=True)
    for axis, column, title in ((axes[0], 1, "heldout-384 (synthetic, 30 studies)"),
                                (axes[1], 2, "heldout-real (real anatomy, 12 studies)")):
        for name, points in lines.items():
            axis.plot([p[0] for p in points], [p[column] for p in points], marker="o", label=name)
        axis.set_title(title)
        axis.set_xlabel("classifier training, CPU minutes (cumulative)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("held-out slice AUROC")
    handles, labels = axes[0].get_legend_handles_labels()  # below the plots: inside, it hid the real-anatomy curve
    figure.legend(handles, labels, fontsize=7, loc="lower center", ncol=3)
    figure.tight_layout(rect=(0, 0.24, 1, 1))
    figure.savefig(png, dpi=90)


if __name__ == "__main__":
    main(*sys.argv[1:3])
