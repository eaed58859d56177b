"""A phantom CTPA for the SampleData module: a synthetic chest CT with known emboli, made on this computer.

No public CTPA with PE annotations can be redistributed, so instead of a download the sample is generated with
``IExplainLib.phantoms.make_study`` (same seed, same study) into a cache folder the first time it is asked for;
later requests reuse the files. The truth mask comes with it as a segmentation, to compare the detection with.
The module registers it with ``SampleData.SampleDataLogic.registerCustomSampleDataSource(customDownloader=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLE_CATEGORY = "IExplain"
SAMPLE_NAME = "IExplainPhantomCTPA"
SAMPLE_NODE_NAME = "PhantomCTPA"
SAMPLE_SEED = 11
SAMPLE_SLICES = 64
SAMPLE_SIZE = 192
SAMPLE_EMBOLI = 3


@dataclass(frozen=True)
class PhantomSample:
    ct: Path
    truth: Path
    made: bool  # False when the cached files were reused


def writePhantomSample(folder: str | Path, seed: int = SAMPLE_SEED, slices: int = SAMPLE_SLICES,
                       size: int = SAMPLE_SIZE, emboli: int = SAMPLE_EMBOLI) -> PhantomSample:
    """``<folder>/PhantomCTPA-s<seed>.nrrd`` and its truth ``.seg.nrrd``; made once, then reused."""
    folder = Path(folder)
    stem = f"{SAMPLE_NODE_NAME}-s{seed}-{slices}x{size}"
    ct, truth = folder / f"{stem}.nrrd", folder / f"{stem}-truth.seg.nrrd"
    if ct.is_file() and truth.is_file():
        return PhantomSample(ct, truth, made=False)
    from IExplainLib.io import SegmentInfo, distinct_color, write_segmentation, write_volume
    from IExplainLib.phantoms import make_study

    study = make_study(seed=seed, slices=slices, size=size, n_emboli=emboli)
    folder.mkdir(parents=True, exist_ok=True)
    write_volume(ct, study.volume, overwrite=True)
    truthLabel = study.volume.with_array((study.truth > 0).astype("uint8"))
    write_segmentation(truth, truthLabel, [SegmentInfo("PE truth (phantom)", 1, distinct_color(5))], overwrite=True)
    return PhantomSample(ct, truth, made=True)
