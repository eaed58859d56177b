"""Which prediction goes with which truth: single files, folders of masks, or ``dataset.json`` datasets.

PRED and TRUTH are each a mask file, a folder of mask files, or a dataset (a ``dataset.json`` or a folder holding
one, or an RSPECT-layout folder read by :func:`IExplainLib.datasets.open_dataset`, whose ``label`` per case is the
mask). Cases are paired by id: a dataset case's id, or a file's name without its image ending (``case-003.seg.nrrd``
and ``case-003.nii.gz`` are both case ``case-003``). A truth case without a prediction is refused rather than
skipped, since silently dropping studies would inflate the pooled figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

MASK_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass
class CasePair:
    case_id: str
    prediction: Path
    truth: Path
    slice_labels: Path | None = None  # from the truth dataset, when it lists them
    extras: dict = field(default_factory=dict)


def mask_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in MASK_SUFFIXES if name.endswith(suffix)), None)


def case_id_of(path: Path) -> str:
    suffix = mask_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.stem


def _is_dataset(path: Path) -> bool:
    if path.is_file():
        return path.name == "dataset.json"
    return (path / "dataset.json").is_file() or (path / "train.csv").is_file()


def _dataset_cases(path: Path, role: str) -> dict[str, tuple[Path, Path | None]]:
    from ..datasets import open_dataset

    cases = {}
    for case in open_dataset(path):
        if case.label is None:
            continue
        cases[str(case.id)] = (Path(case.label), case.slice_labels_path)
    if not cases:
        raise InputError(f"{role} dataset {path} lists no case with a label mask")
    return cases


def _folder_cases(path: Path, role: str) -> dict[str, tuple[Path, Path | None]]:
    cases: dict[str, tuple[Path, Path | None]] = {}
    for item in sorted(path.iterdir()):
        if item.is_file() and mask_suffix(item) and not item.name.startswith("."):
            case_id = case_id_of(item)
            if case_id in cases:
                raise InputError(f"{role} folder {path} holds two masks for case {case_id}: "
                                 f"{cases[case_id][0].name} and {item.name}")
            cases[case_id] = (item, None)
    if not cases:
        raise InputError(f"{role} folder {path} holds no mask files ({', '.join(MASK_SUFFIXES)})")
    return cases


def collect_cases(path: Path, role: str) -> dict[str, tuple[Path, Path | None]]:
    """``{case_id: (mask path, slice-label CSV or None)}`` of a file, folder or dataset."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{role} {path} not found")
    if _is_dataset(path):
        return _dataset_cases(path, role)
    if path.is_dir():
        return _folder_cases(path, role)
    if not mask_suffix(path):
        raise InputError(f"{role} {path} is not a mask file ({', '.join(MASK_SUFFIXES)}), folder or dataset.json")
    return {case_id_of(path): (path, None)}


def pair_cases(prediction: Path, truth: Path) -> list[CasePair]:
    """Pair predictions with truths by case id (a single file against a single file pairs whatever the names)."""
    predictions = collect_cases(prediction, "prediction")
    truths = collect_cases(truth, "truth")
    if len(predictions) == 1 and len(truths) == 1 and Path(prediction).is_file() and Path(truth).is_file():
        (pred_path, _), = predictions.values()
        (truth_id, (truth_path, labels)), = truths.items()
        return [CasePair(truth_id, pred_path, truth_path, labels)]
    missing = sorted(set(truths) - set(predictions))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(f"no prediction for {len(missing)} truth case(s) in {prediction}: {shown}")
    return [CasePair(case_id, predictions[case_id][0], path, labels)
            for case_id, (path, labels) in sorted(truths.items())]
