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

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .preprocess import to_network_image, to_network_label
from .sampling import TrainingArrays


@dataclass
class CaseFiles:
    case_id: str
    image: Path
    label: Path
    provenance: dict


def _pseudo_label_entries(folder: Path) -> dict[str, tuple[Path, Path | None]]:
    """id -> (label path, source image path or None) of a pseudo-label folder's dataset.json.

    Read directly (not with ``open_dataset``) because the pseudo-label manifest may name the source CTs by absolute
    path, outside the folder, which a portable dataset refuses.
    """
    manifest = folder / "dataset.json" if folder.is_dir() else folder
    if not manifest.is_file():
        raise InputError(f"pseudo-label folder {folder} has no dataset.json (write it with iexplain pseudo-label)")
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
        entries = document["cases"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise InputError(f"{manifest}: not a dataset manifest ({error})") from error
    found = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("label"):
            continue  # a case without a pseudo-label (e.g. failed or skipped) is not training data
        label = Path(entry["label"])
        label = label if label.is_absolute() else manifest.parent / label
        image = entry.get("image")
        image = None if not image else (Path(image) if Path(image).is_absolute() else manifest.parent / image)
        found[str(entry["id"])] = (label, image)
    return found


def list_training_files(images: str | Path | None, labels: str | Path | None = None) -> list[CaseFiles]:
    """Pair CT and label files for training; refuses an empty result with the reason."""
    from ..datasets import open_dataset

    image_cases = {case.id: case for case in open_dataset(images)} if images else {}
    found: list[CaseFiles] = []
    if labels:
        for case_id, (label, image) in _pseudo_label_entries(Path(labels)).items():
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
        spacing_xy = volume.spacing[:2]
        image = to_network_image(volume.array, spacing_xy, spec)
        soft = to_network_label(label.array, spacing_xy, spec)
        arrays.append(TrainingArrays.build(item.case_id, image, soft, seed=seed + index))
        if progress is not None:
            progress("load", (index + 1) / len(files), f"case {item.case_id}", case=item.case_id)
    return arrays


def describe_data(files: list[CaseFiles], arrays: list[TrainingArrays]) -> dict:
    """Training-data summary for the model card."""
    positives = sum(1 for a in arrays if len(a.positives))
    return {"cases": len(files), "positive_cases": positives,
            "label_sources": sorted({f.provenance.get("label_source", "?") for f in files}),
            "case_ids": [f.case_id for f in files][:200]}

