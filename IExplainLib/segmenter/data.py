"""Training cases of the segmenter, read from dataset folders and put on the network grid.

Three sources, one result (a list of :class:`~.sampling.TrainingArrays`):

* ``--images DATA --labels PSEUDO_DIR``: the CTs of a dataset (``open_dataset``: dataset.json or RSPECT) with the
  pseudo-labels written by ``iexplain pseudo-label`` (``PSEUDO_DIR/dataset.json``: cases with ``label`` relative to
  that folder and ``image`` naming the source CT). Cases pair by id; a pseudo-label case whose id is not in DATA uses
  its own ``image``.
* ``--images DATA`` alone, or a finetuning folder (``--data DIR``): the dataset's own ``label`` files (voxel truth or
  corrected labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .preprocess import guidance_map, to_network_input, to_network_label
from .sampling import TrainingArrays


@dataclass
class CaseFiles:
    case_id: str
    image: Path
    label: Path
    provenance: dict


def pseudo_label_entries(folder: Path) -> dict[str, tuple[Path, Path | None]]:
    """id -> (label path, source image path) of a pseudo-label folder (its dataset.json names the source CTs)."""
    from ..datasets import open_dataset

    # a case without a pseudo-label (failed or skipped) is not training data
    return {case.id: (case.label, case.image) for case in open_dataset(folder) if case.label is not None}


def list_training_files(images: str | Path | None, labels: str | Path | None = None) -> list[CaseFiles]:
    """Pair CT and label files for training; refuses an empty result with the reason."""
    from ..datasets import open_dataset

    image_cases = {case.id: case for case in open_dataset(images)} if images else {}
    found: list[CaseFiles] = []
    if labels:
        for case_id, (label, image) in pseudo_label_entries(Path(labels)).items():
            source = image_cases[case_id].image if case_id in image_cases else image
            if source is None:
                raise InputError(f"pseudo-label {case_id}: no CT with that id in {images} and none named in "
                                 "the pseudo-label manifest")
            provenance = {"label_source": "pseudo-label", "pseudo_labels": str(labels)}
            found.append(CaseFiles(case_id, Path(source), label, provenance))
        what = f"pseudo-label folder {labels}"
    else:
        if not images:
            raise InputError("training needs --images (and --labels for pseudo-labels)")
        for case in image_cases.values():
            if case.label is not None:
                found.append(CaseFiles(case.id, Path(case.image), Path(case.label),
                                       {"label_source": case.provenance.get("label_source", "dataset label"),
                                        **case.provenance}))
        what = f"dataset {images}"
    for item in found:
        for path in (item.image, item.label):
            if not path.exists():
                raise InputError(f"case {item.case_id}: {path} not found")
    if not found:
        raise InputError(f"{what} has no case with a voxel label to train on")
    return found


def load_training_arrays(files: list[CaseFiles], spec, progress=None, seed: int = 0) -> list[TrainingArrays]:
    """Read each case, check image and label share a grid, window and resample to the network grid."""
    from ..io import read_volume

    arrays = []
    for index, item in enumerate(files):
        volume = read_volume(item.image)
        label = read_volume(item.label)
        if volume.shape != label.shape:
            raise InputError(f"case {item.case_id}: label {item.label.name} {label.shape} does not match its CT "
                             f"{volume.shape} (z, y, x)")
        arrays.append(training_arrays(item.case_id, volume, label.array, spec, seed=seed + index))
        if progress is not None:
            progress("load", (index + 1) / len(files), f"case {item.case_id}", case=item.case_id)
    return arrays


def training_arrays(case_id: str, volume, label: np.ndarray, spec, seed: int = 0) -> TrainingArrays:
    """One case (a CT :class:`~IExplainLib.volume.Volume` and its label array on the same grid) on the network grid."""
    spacing_xy = volume.spacing[:2]
    image = to_network_input(volume.array, spacing_xy, spec, guidance_map(volume, spec))
    soft = to_network_label(label, spacing_xy, spec)
    return TrainingArrays.build(case_id, image, soft, seed=seed)


def describe_data(files: list[CaseFiles], arrays: list[TrainingArrays]) -> dict:
    """Training-data summary for the model card."""
    positives = sum(1 for a in arrays if len(a.positives))
    return {"cases": len(files), "positive_cases": positives,
            "label_sources": sorted({f.provenance.get("label_source", "?") for f in files}),
            "case_ids": [f.case_id for f in files][:200]}

