"""Is this CT an angiogram? Opacified pulmonary arteries, measured in the vessels inside the lungs.

IExplain looks for filling defects in contrast-filled arteries; in a CT without arterial contrast every vessel looks
like a defect, and any finding is meaningless. Inside the lungs (air with its holes filled) the vessels are the soft
structures; their cores (eroded, so partial volume with lung does not count) are 250-450 HU in a CTPA and 0-60 HU
without contrast. The check reports the share of vessel-core voxels above ``OPACIFIED_HU``: every phantom and
real-anatomy study measured was at 0.30 or more (poor-contrast phantoms included), the real non-contrast POPI chest CT at
0.000. Below ``MIN_SHARE`` the study is flagged; with fewer than ``MIN_VESSEL_VOXELS`` cores (no lungs in the slab)
the check cannot tell and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

OPACIFIED_HU = 150.0
MIN_SHARE = 0.10
MIN_VESSEL_VOXELS = 200
WORKING_PIXEL_MM = 2.0


@dataclass(frozen=True)
class ContrastCheck:
    opacified_share: float | None   # share of lung-vessel cores above OPACIFIED_HU; None when undetermined
    vessel_voxels: int

    @property
    def is_angiogram(self) -> bool | None:
        return None if self.opacified_share is None else self.opacified_share >= MIN_SHARE

    def warning(self) -> str | None:
        if self.is_angiogram is not False:
            return None
        share = self.opacified_share
        assert share is not None  # is_angiogram is False only when there is a share
        return (f"this CT does not look like a CT angiogram: only {100 * share:.1f}% of the lung "
                f"vessels are above {OPACIFIED_HU:g} HU (no opacified pulmonary arteries); findings are not reliable")

    def as_dict(self) -> dict:
        return {"opacified_share": self.opacified_share, "vessel_voxels": self.vessel_voxels,
                "is_angiogram": self.is_angiogram}


def check_contrast(volume) -> ContrastCheck:
    """:class:`ContrastCheck` of a CT ``Volume`` in HU."""
    from .chest_region import _IN_PLANE, _lungs

    pixel = float(min(volume.spacing[0], volume.spacing[1]))
    step = max(1, int(WORKING_PIXEL_MM // pixel))
    hu = np.asarray(volume.array)[:, ::step, ::step].astype(np.float32)
    lungs = _lungs(hu, pixel * step)
    filled = ndimage.binary_fill_holes(lungs, structure=_IN_PLANE)
    vessels = filled & ~lungs & (hu > -300) & (hu < 600)
    cores = ndimage.binary_erosion(vessels, structure=np.ones((1, 2, 2), bool))
    count = int(cores.sum())
    if count < MIN_VESSEL_VOXELS:
        return ContrastCheck(None, count)
    return ContrastCheck(float(np.mean(hu[cores] > OPACIFIED_HU)), count)
