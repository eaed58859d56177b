"""Draws Resources/Screenshots/IExplain-1.png: an honest MOCK-UP of the module, not a 3D Slicer screen capture.

3D Slicer cannot run where this project is built, so the Extensions Index screenshot is drawn here: a synthetic CTPA
from ``IExplainLib.phantoms`` with its known emboli shown as "PE iteration k" segments in the module's colours, and
the panel's sections and findings table as laid out in ``IExplain/Resources/UI/IExplain.ui``. The image says so.
Replace it with a real capture (View > Screen capture in Slicer) when one is available.
Run: ``.venv/bin/python Resources/Screenshots/make_mockup.py``.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "IExplain"))
sys.path.insert(0, str(REPO))

from IExplainLib.phantoms import make_study  # noqa: E402

COLORS = [(0.835, 0.369, 0.0), (0.0, 0.447, 0.698), (0.941, 0.894, 0.259), (0.0, 0.62, 0.451)]

study = make_study(seed=7, slices=64, size=192, n_emboli=3)
truth = study.truth
largest = max(range(1, int(truth.max()) + 1), key=lambda k: int((truth == k).sum()))
z = int(np.nonzero((truth == largest).any(axis=(1, 2)))[0].mean())
ct = np.clip((study.volume.array[z].astype(float) + 160) / 400, 0, 1)
voxel = float(np.prod(study.volume.spacing))

fig = plt.figure(figsize=(12, 7), dpi=100, facecolor="#f0f0f0")
panel = fig.add_axes([0.0, 0.0, 0.36, 1.0])
panel.axis("off")
lines = [("IExplain", 15, "bold"), ("▼ Inputs", 11, "bold"), ("   CT volume:  phantom-7", 10, None),
         ("   Method:  iexplain        Device:  auto", 10, None), ("   Model:  demo-classifier (bundled)", 10, None),
         ("   classifier, bundled, licence and sha256 from its card", 9, None), ("► Advanced", 11, "bold"),
         ("   [ Cancel ]   Explaining: iteration 2, slice 41 (62%)", 10, None), ("▼ Results", 11, "bold"),
         ("   Show  Finding          Volume (mm³)  Slices   Review", 9, "bold")]
for k in range(1, int(truth.max()) + 1):
    zs = np.nonzero((truth == k).any(axis=(1, 2)))[0]
    lines.append((f"   [x]   PE iteration {k}     {(truth == k).sum() * voxel:8.0f}     {zs.min()}-{zs.max()}"
                  f"    {'Completed' if k == 1 else 'Not started'}", 9, None))
lines += [("▼ Correct  (embedded Segment Editor)", 11, "bold"), ("▼ Export and finetune", 11, "bold"),
          ("   Dataset folder:  ~/.IExplain/finetune-dataset", 9, None),
          ("   [ Export for finetuning ]   [ Finetune ]", 10, None)]
y = 0.96
for text, size, weight in lines:
    panel.text(0.04, y, text, fontsize=size, fontweight=weight or "normal", family="DejaVu Sans", va="top")
    y -= 0.052 if size >= 11 else 0.045
view = fig.add_axes([0.38, 0.08, 0.6, 0.86])
rgb = np.dstack([ct] * 3)
for k in range(1, int(truth.max()) + 1):
    mask = truth[z] == k
    rgb[mask] = 0.45 * rgb[mask] + 0.55 * np.array(COLORS[(k - 1) % len(COLORS)])
view.imshow(rgb, origin="upper")
view.set_title(f"Axial slice {z}: PE iteration segments over the CT", fontsize=11)
view.axis("off")
fig.text(0.38, 0.012, "MOCK-UP, not a 3D Slicer capture: synthetic phantom (IExplainLib.phantoms) with its known\n"
         "emboli drawn as iteration segments; panel sections as in IExplain.ui.", fontsize=9, color="#a00000")
fig.savefig(Path(__file__).with_name("IExplain-1.png"))
print("wrote", Path(__file__).with_name("IExplain-1.png"))
