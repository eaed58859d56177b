"""PNG montages of a study with its truth outlined: the quickest way to check that a phantom looks like a CTPA.

Slices are shown in radiological convention (patient's right on the image's left, anterior up), which is what the
(z, y, x) LPS arrays give when drawn as they are. Each slice is shown in the mediastinal window (W400 L40, where a
filling defect shows as grey inside a white artery) and, optionally, in the lung window (W1500 L-600).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..outputs import atomic_output

MEDIASTINAL = (40.0, 400.0)
PE_WINDOW = (100.0, 700.0)
LUNG = (-600.0, 1500.0)


def _windowed(image: np.ndarray, window) -> np.ndarray:
    level, width = window
    return np.clip((image.astype(np.float32) - (level - width / 2)) / width, 0, 1)


def pick_slices(truth: np.ndarray, count: int) -> list[int]:
    """Slices through the middle of each embolus first, then evenly spaced slices to fill the montage."""
    nz = truth.shape[0]
    chosen: list[int] = []
    for label in [v for v in np.unique(truth) if v]:
        z = np.flatnonzero((truth == label).any(axis=(1, 2)))
        weights = [(truth[k] == label).sum() for k in z]
        centre = int(z[int(np.argmax(weights))])
        if centre not in chosen:
            chosen.append(centre)
    for k in np.linspace(nz * 0.15, nz * 0.85, count).astype(int):
        if len(chosen) >= count:
            break
        if all(abs(int(k) - c) > 1 for c in chosen):
            chosen.append(int(k))
    return sorted(chosen[:count])


def _zoom_box(truth_slice: np.ndarray, half: int) -> tuple[slice, slice]:
    """A square around the largest embolus of the slice (or the image centre)."""
    ny, nx = truth_slice.shape
    if truth_slice.any():
        labels, counts = np.unique(truth_slice[truth_slice > 0], return_counts=True)
        rows, cols = np.nonzero(truth_slice == labels[int(np.argmax(counts))])
        cy, cx = int(rows.mean()), int(cols.mean())
    else:
        cy, cx = ny // 2, nx // 2
    y0 = int(np.clip(cy - half, 0, max(ny - 2 * half, 0)))
    x0 = int(np.clip(cx - half, 0, max(nx - 2 * half, 0)))
    return slice(y0, y0 + 2 * half), slice(x0, x0 + 2 * half)


def _slice_finding(study, truth_slice: np.ndarray) -> str:
    """"no PE", or the calibre class and shape of the slice's largest embolus (the one the close-ups show)."""
    if not truth_slice.any():
        return "no PE"
    labels, counts = np.unique(truth_slice[truth_slice > 0], return_counts=True)
    largest = int(labels[int(np.argmax(counts))])
    embolus: dict = next((e for e in study.emboli if e.get("embolus") == largest), {})
    calibre = embolus.get("calibre", embolus.get("level"))
    shape = embolus.get("shape", "occlusive" if embolus.get("occlusive") else "partial")
    return f"PE {calibre} {shape}" if calibre else "PE"


def write_preview(study, path, slices: list[int] | None = None, count: int = 6, lung_window: bool = True,
                  zoom_mm: float | None = 45.0, window=MEDIASTINAL, overwrite: bool = False,
                  title: str | None = None) -> Path:
    """Write a PNG montage of ``study`` (a SyntheticStudy) with each embolus outlined in its own colour.

    Rows: the whole slice (mediastinal window), a ``zoom_mm`` half-width close-up on the largest embolus of the
    slice (outlined) next to the same close-up without outline, and the lung window.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = study.volume.array
    truth = study.truth
    slices = pick_slices(truth, count) if slices is None else list(slices)
    sx, sy, sz = study.volume.spacing
    aspect = sy / sx
    half = max(8, int(round(zoom_mm / sx))) if zoom_mm else 0
    panels = [("full", window, True)]
    if half:
        panels += [("zoom", window, False), ("zoom", window, True)]
    if lung_window:
        panels.append(("full", LUNG, False))
    figure, axes = plt.subplots(len(panels), len(slices), figsize=(3.0 * len(slices), 3.1 * len(panels) + 0.5),
                                squeeze=False)
    colours = plt.get_cmap("tab10")
    for column, k in enumerate(slices):
        crop = _zoom_box(truth[k], half) if half else (slice(None), slice(None))
        for row, (extent, win, outline) in enumerate(panels):
            ax = axes[row][column]
            region = crop if extent == "zoom" else (slice(None), slice(None))
            ax.imshow(_windowed(image[k][region], win), cmap="gray", vmin=0, vmax=1, aspect=aspect,
                      interpolation="bilinear" if extent == "full" else "nearest")
            plane = truth[k][region]
            if outline:
                for label in [v for v in np.unique(plane) if v]:
                    ax.contour(plane == label, levels=[0.5], colors=[colours((int(label) - 1) % 10)],
                               linewidths=0.9)
            ax.set_xticks([])
            ax.set_yticks([])
            name = "W%d L%d" % (win[1], win[0])
            if row == 0:
                ax.set_title(f"slice {k} ({_slice_finding(study, truth[k])}) {name}", fontsize=8)
            else:
                what = "close-up" + (", truth outlined" if outline else "") if extent == "zoom" else "lung"
                ax.set_title(f"{what} {name}", fontsize=8)
    summary = ", ".join(f"{e['embolus']}:{e['level']}/{e['side']}{'/occl' if e['occlusive'] else ''}"
                        for e in study.emboli) or "negative study"
    lumen = study.contrast.get("lumen_hu")
    heading = title or f"{getattr(study, 'kind', 'synthetic')} CTPA seed {study.seed}"
    figure.suptitle(f"{heading}  |  lumen {lumen:.0f} HU  |  emboli: {summary}", fontsize=9)
    figure.tight_layout()
    path = Path(path)
    with atomic_output(path, overwrite) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return path
