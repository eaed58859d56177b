"""Stage 2 over a dataset: pseudo-labels for every case (iExplain's, or the candidate detector's with
``method="candidates"``), resumable and split across processes.

Layout of the output folder (read by ``train-segmenter --labels DIR``)::

    DIR/labels/<id>.nii.gz           binary union of all iterations after filtering (uint8, CT geometry)
    DIR/segmentations/<id>.seg.nrrd  one segment per iteration
    DIR/heatmaps/<id>.nrrd           the assembled heat map on the CT grid (candidates: each candidate's score)
    DIR/dicom-seg/<id>.dcm           with ``dicom_seg=True``: the segmentation as DICOM SEG on the source series
    DIR/findings/<id>.json           the findings table (written last: its presence marks a finished case)
    DIR/dataset.json                 format "iexplain-dataset": id, image (absolute source path), label, provenance

Every file is written atomically, so an interrupted run leaves whole files or none; a rerun skips finished cases
and removes the ``.partial-*`` temporary files a killed run left (when no other shard is running in the folder:
see :func:`IExplainLib.outputs.claim_folder`). A finished case that lacks the DICOM SEG asked for gets it from its
saved segmentation, without running iExplain again.
Shards: ``shard=(i, n)`` takes cases i, i+n, i+2n... of the id-sorted list (torchrun's RANK / WORLD_SIZE by
default). Each shard rewrites dataset.json from the labels present when it finishes, under a file lock, so the last
shard to finish leaves the complete index (and a rerun after a crash repairs it).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import IExplainError, InputError
from ..outputs import claim_folder, write_text_atomic
from ..progress import QUIET
from .params import ExplainParams

if TYPE_CHECKING:
    import torch

    from .presets import PresetChoice

SUBFOLDERS = ("labels", "segmentations", "heatmaps", "findings")
DICOM_SEG_FOLDER = "dicom-seg"


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` -> (i, n); None -> torchrun's (RANK, WORLD_SIZE) or (0, 1)."""
    if text is None:
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    else:
        try:
            rank, world = (int(part) for part in str(text).split("/"))
        except ValueError as error:
            raise InputError(f"--shard must be I/N (e.g. 0/4), got {text!r}") from error
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"shard {rank}/{world}: need 0 <= I < N")
    return rank, world


def case_paths(out: Path, case_id: str) -> dict[str, Path]:
    return {"label": out / "labels" / f"{case_id}.nii.gz",
            "segmentation": out / "segmentations" / f"{case_id}.seg.nrrd",
            "heatmap": out / "heatmaps" / f"{case_id}.nrrd",
            "findings": out / "findings" / f"{case_id}.json",
            "dicom_seg": out / DICOM_SEG_FOLDER / f"{case_id}.dcm"}


def is_finished(out: Path, case_id: str) -> bool:
    paths = case_paths(out, case_id)
    return all(paths[key].exists() for key in ("label", "findings"))


def _require_dicom(cases) -> None:
    from ..io.images import image_suffix

    for case in cases:
        if image_suffix(case.image):
            raise InputError(f"--dicom-seg needs every case as a DICOM series; case {case.id} is {case.image}")


@dataclass
class PseudoLabelReport:
    shard: tuple[int, int] = (0, 1)
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    indexed: int = 0


def rank_device(device: torch.device | str) -> torch.device | str:
    """``"auto"`` under torchrun: this process's own GPU (``LOCAL_RANK``); any other choice as it is."""
    if device != "auto" or "LOCAL_RANK" not in os.environ:
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"


def pseudo_label_dataset(dataset: str | Path, out: str | Path, classifier: str | Path,
                         params: ExplainParams | None = None, shard: tuple[int, int] | None = (0, 1),
                         device: torch.device | str = "auto", overwrite: bool = False,
                         progress: Callable | None = None, dicom_seg: bool = False,
                         preset: PresetChoice | None = None, method: str = "iexplain",
                         score_threshold: float | None = None) -> PseudoLabelReport:
    """iExplain (``method="iexplain"``, ``classifier`` its model) or the candidate detector (``"candidates"``,
    ``classifier`` the reducer's model, ``score_threshold`` default its card's) on this shard's cases of
    ``dataset``, each through the study step (``study_step.StudyStep``); returns what was done, skipped and failed.

    ``shard``: (i, n); None: torchrun's rank, on its own GPU when ``device`` is ``"auto"``. ``dicom_seg``: also a
    DICOM SEG per case (every case must be a DICOM series). ``preset``: the attribution preset, announced and kept in
    each findings file.
    """
    from ..datasets import open_dataset
    from ..modelfile import model_paths, read_card
    from ..study_step import StudyFiles, StudyStep

    if method not in ("iexplain", "candidates"):
        raise InputError(f"unknown pseudo-label method {method!r} (iexplain or candidates)")
    if shard is None:
        shard, device = parse_shard(None), rank_device(device)
    params = params or ExplainParams()
    progress = progress or QUIET
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder")
    cases = sorted(open_dataset(dataset), key=lambda c: c.id)
    if not cases:
        raise InputError(f"dataset {dataset} has no cases")
    rank, world = shard
    mine = cases[rank::world]
    if dicom_seg:
        _require_dicom(mine)
    weights, _ = model_paths(classifier)
    step = StudyStep.for_method(method, weights.resolve(), params if method == "iexplain" else None, preset, device,
                                score_threshold, overwrite=True, progress=progress)
    provenance = {"classifier": str(weights.resolve()), "classifier_sha256": read_card(weights).get("sha256"),
                  "params": params.to_dict() if method == "iexplain" else None, "method": method,
                  "preset": None if preset is None else preset.as_dict()}
    for sub in SUBFOLDERS + ((DICOM_SEG_FOLDER,) if dicom_seg else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    report = PseudoLabelReport(shard)
    with claim_folder(out, progress):
        for position, case in enumerate(mine):
            progress("pseudo-label", position / max(1, len(mine)), f"case {case.id}", case=case.id)
            try:
                if is_finished(out, case.id) and not overwrite:
                    if dicom_seg and not case_paths(out, case.id)["dicom_seg"].exists():
                        _add_dicom_seg(case, out)
                    report.skipped.append(case.id)
                    continue
                paths = case_paths(out, case.id)
                step(case.image, StudyFiles(paths["findings"], paths["segmentation"], paths["heatmap"],
                                            paths["label"], paths["dicom_seg"] if dicom_seg else None), case.id)
                report.done.append(case.id)
            except IExplainError as error:  # one unreadable study must not stop a dataset-sized run
                report.failed[case.id] = str(error)
                progress("pseudo-label", None, f"case {case.id} failed: {error}", case=case.id)
        report.indexed = write_index(out, cases, provenance)
    progress("pseudo-label", 1.0, f"{len(report.done)} labelled, {len(report.skipped)} already done, "
             f"{len(report.failed)} failed; dataset.json lists {report.indexed} case(s)")
    return report


def _add_dicom_seg(case, out: Path) -> None:
    """The DICOM SEG of a case finished without one, from its saved segmentation (no iExplain run)."""
    from ..io import export_dicom_seg

    paths = case_paths(out, case.id)
    export_dicom_seg(paths["segmentation"], case.image, paths["dicom_seg"], overwrite=True)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` where the platform has one (POSIX flock); otherwise nothing."""
    with open(path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: shards rarely share a folder there; a rerun repairs the index
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _provenance_of(out: Path, case_id: str, fallback: dict) -> dict:
    """The classifier and parameters that made this case's label (a resumed run may have used others)."""
    try:
        document = json.loads(case_paths(out, case_id)["findings"].read_text(encoding="utf-8"))
        return {"classifier": document["model"], "params": document["params"], "method": document["method"]}
    except (OSError, ValueError, KeyError, TypeError):
        return fallback


def write_index(out: Path, cases, provenance: dict) -> int:
    """(Re)write DIR/dataset.json from the finished cases; returns how many it lists."""
    with _locked(out / ".dataset.lock"):
        entries = []
        for case in cases:
            if not is_finished(out, case.id):
                continue
            made_by = _provenance_of(out, case.id, provenance)
            entries.append({"id": case.id, "image": str(Path(case.image).resolve()),
                            "label": f"labels/{case.id}.nii.gz",
                            "segmentation": f"segmentations/{case.id}.seg.nrrd",
                            "heatmap": f"heatmaps/{case.id}.nrrd", "findings": f"findings/{case.id}.json",
                            "provenance": {**made_by, "label_source": f"{made_by['method']} pseudo-label"}})
        document = {"format": "iexplain-dataset", "version": 1,
                    "description": "pseudo-labels (Stage 2): iExplain's binary union of all iterations after "
                                   "filtering, or the candidates the reducer kept",
                    "cases": entries}
        write_text_atomic(out / "dataset.json", json.dumps(document, indent=2) + "\n", overwrite=True)
    return len(entries)
