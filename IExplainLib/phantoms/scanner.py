"""Contrast timing and scanner effects: what makes two phantoms of the same anatomy look like two different scans.

``Contrast`` holds the per-study enhancement (pulmonary arterial lumen 250-450 HU; veins, left heart and aorta
less; poorly timed studies near the low end, some with a mixing "flow artefact" in lower-lobe arteries, which is the
classic false-positive filling defect). ``Scanner`` blurs (finite resolution) and adds spatially correlated noise
with a chosen standard deviation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Contrast:
    lumen_hu: float        # pulmonary arterial lumen
    vein_hu: float         # pulmonary veins and left atrium
    aorta_hu: float        # aorta and left heart
    right_heart_hu: float
    svc_hu: float
    poor_contrast: bool    # badly timed bolus (qa_contrast)
    flow_artifact: bool    # unopacified blood mixing in lower-lobe arteries (flow_artifact)
    artifact_factor: float  # fraction of the lumen enhancement left where the mixing artefact lies

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Contrast":
        poor = bool(rng.random() < 0.15)
        lumen = float(rng.uniform(250, 300) if poor else rng.uniform(280, 450))
        vein_fraction = rng.uniform(0.55, 0.85) if poor else rng.uniform(0.3, 0.65)
        aorta_fraction = rng.uniform(0.65, 0.95) if poor else rng.uniform(0.4, 0.8)
        flow = bool(rng.random() < (0.5 if poor else 0.12))
        return cls(lumen_hu=lumen, vein_hu=float(lumen * vein_fraction), aorta_hu=float(lumen * aorta_fraction),
                   right_heart_hu=float(lumen * rng.uniform(0.95, 1.15)), svc_hu=float(rng.uniform(450, 1100)),
                   poor_contrast=poor, flow_artifact=flow, artifact_factor=float(rng.uniform(0.45, 0.7)))

    def as_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Scanner:
    noise_sd: float   # HU, standard deviation of the final noise
    blur_mm: float    # in-plane Gaussian sigma of the point-spread function

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Scanner":
        return cls(noise_sd=float(rng.uniform(9, 22)), blur_mm=float(rng.uniform(0.45, 0.8)))

    def sigmas(self, spacing_xyz) -> tuple[float, float, float]:
        """Gaussian sigmas in voxels, (z, y, x): the slice profile blurs about a third of a slice.

        At least half a voxel in-plane: coarse grids then look like a downsampled scan (partial volume) instead of
        aliased point samples.
        """
        sx, sy, sz = spacing_xyz
        return (0.35, max(self.blur_mm / sy, 0.5), max(self.blur_mm / sx, 0.5))

    def apply(self, hu: np.ndarray, spacing_xyz, rng: np.random.Generator) -> np.ndarray:
        """Blur and add correlated noise in one filtering pass (noise added first, rescaled to ``noise_sd``)."""
        sigmas = self.sigmas(spacing_xyz)
        gain = np.sqrt(np.prod([_kernel_energy(s) for s in sigmas]))
        noise = rng.standard_normal(hu.shape, dtype=np.float32)
        noise *= np.float32(self.noise_sd / max(gain, 1e-3))
        noise += hu
        return ndimage.gaussian_filter(noise, sigmas, mode="nearest", output=np.float32)

    def as_dict(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def _kernel_energy(sigma: float) -> float:
    """Sum of squared weights of scipy's Gaussian kernel: the noise variance it lets through."""
    if sigma <= 0:
        return 1.0
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    return float((weights ** 2).sum())
