"""One study through any detection method into its files: the step that ``detect``, ``pseudo-label``, the demo and
``quality`` share, so that every one of them writes (or, for ``quality``, scores) the same findings.

:class:`StudyStep` is built once per run, Captum-like: it holds the method's detector (``detection.Detector``: an
``IExplainer``, a ``Segmenter`` or a ``CandidateDetector``, built by :meth:`StudyStep.for_method`) and what the
findings file records about it (model, iExplain parameters, attribution preset). Calling it on a CT reads it,
refuses what is not CT in HU (and, when a DICOM SEG is asked for, what is no plain DICOM series), runs the contrast
check, detects (each method filters its own clusters), assembles the findings document and writes every file named
in :class:`StudyFiles`; given no files (``quality``, which scores the study in memory), it writes nothing and returns
the same document and detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .detection import Detection, Detector, findings_document, write_detection
from .errors import InputError
from .progress import QUIET
from .volume import Volume

if TYPE_CHECKING:
    import torch

    from .contrast_check import ContrastCheck
    from .explain.params import ExplainParams
    from .explain.presets import PresetChoice

METHODS = ("iexplain", "segmenter", "candidates")


@dataclass(frozen=True)
class StudyFiles:
    """Where one study's results go; None: not written. ``findings`` is written last, so its presence marks a
    finished study."""

    findings: Path
    segmentation: Path | None = None   # .seg.nrrd, one segment per iteration / finding
    heat: Path | None = None           # the map behind the labelmap (.nrrd)
    label: Path | None = None          # the binary union (e.g. .nii.gz)
    dicom_seg: Path | None = None      # a DICOM SEG on the source series

    def check_can_write(self, overwrite: bool) -> None:
        """Refuse, before any work, a file that exists (unless ``overwrite``) or cannot be written."""
        from .outputs import check_can_write

        for path in (self.segmentation, self.heat, self.label, self.findings, self.dicom_seg):
            if path is not None:
                check_can_write(path, overwrite)


@dataclass
class StudyResult:
    detection: Detection
    document: dict       # the findings file's content
    volume: Volume       # the CT as read


def make_detector(method: str, model: str | Path, params: ExplainParams | None = None,
                  device: torch.device | str = "auto", score_threshold: float | None = None) -> Detector:
    """The detector of ``method`` with its model loaded. ``params``: iExplain's parameters, or the segmenter's
    cluster filters (default: the model card's); ``score_threshold``: the candidates' (default: the card's)."""
    if method == "iexplain":
        from .explain.explainer import IExplainer

        return IExplainer(model, params, device)
    if method == "segmenter":
        from .segmenter.inference import Segmenter

        return Segmenter(model, params, str(device))
    if method == "candidates":
        from .candidates.detector import CandidateDetector

        if score_threshold is not None and not 0 <= score_threshold <= 1:
            raise InputError(f"--score-threshold must be in [0, 1], got {score_threshold}")
        return CandidateDetector(model, score_threshold)
    raise InputError(f"unknown detection method {method!r} ({', '.join(METHODS)})")


class StudyStep:
    """``detector`` run on one study per call, its files written. ``model``: the model file as the findings file
    names it; ``params``: the iExplain parameters it records (None for the other methods); ``preset``: the
    attribution preset, announced once here and recorded; ``overwrite``: replace existing files."""

    def __init__(self, detector: Detector, model: str | Path, params: ExplainParams | None = None,
                 preset: PresetChoice | None = None, overwrite: bool = False, progress: Callable | None = None):
        self.detector, self.model, self.params, self.preset = detector, model, params, preset
        self.overwrite = overwrite
        self.progress = progress or QUIET
        if preset is not None:
            self.progress("preset", None, preset.message(), force=True, preset=preset.name)

    @classmethod
    def for_method(cls, method: str, model: str | Path, params: ExplainParams | None = None,
                   preset: PresetChoice | None = None, device: torch.device | str = "auto",
                   score_threshold: float | None = None, overwrite: bool = False,
                   progress: Callable | None = None) -> StudyStep:
        """The step of ``method`` (``make_detector``); only iExplain's parameters are recorded."""
        detector = make_detector(method, model, params, device, score_threshold)
        recorded = getattr(detector, "params", None) if method == "iexplain" else None
        return cls(detector, model, recorded, preset, overwrite, progress)

    def __call__(self, image: str | Path | None, files: StudyFiles | None = None, case: str | None = None,
                 volume: Volume | None = None) -> StudyResult:
        """Detect in the CT at ``image`` (read here unless ``volume`` is that CT already in memory; ``image`` None:
        a CT made in memory, such as ``quality``'s studies) and write ``files`` (None: write nothing, return the
        document); ``case``: the dataset's id of the study, recorded in the findings file."""
        from .contrast_check import check_contrast
        from .io import check_dicom_seg_source, read_volume
        from .io.ct_check import require_ct_hounsfield

        progress = self.progress
        if volume is None:
            if image is None:
                raise ValueError("the study step needs the CT's path or the CT")
            progress("read", 0.0, f"reading {image}")
            volume = read_volume(image)
        require_ct_hounsfield(volume, f"case {case}" if case is not None else str(image))
        if files is not None and files.dicom_seg is not None:
            check_dicom_seg_source(volume)  # refuse before the long work, not after it
        contrast = check_contrast(volume)
        warning = contrast.warning()
        if warning:
            progress("warning", None, warning, force=True)
        detection = self.detector.explain(volume, progress)
        document = self.document(detection, image, contrast, case, files.dicom_seg if files else None)
        if files is not None:
            progress("write", 0.0, f"writing {files.segmentation or files.findings}")
            write_detection(detection, segmentation=files.segmentation, heat=files.heat, label=files.label,
                            dicom_seg=files.dicom_seg, source=volume, findings=files.findings, document=document,
                            overwrite=self.overwrite)
        return StudyResult(detection, document, volume)

    def document(self, detection: Detection, image: str | Path | None, contrast: ContrastCheck,
                 case: str | None = None, dicom_seg: Path | None = None) -> dict:
        """The findings file: ``findings_document`` and what the step knows besides: the dataset's case, the
        preset, the DICOM SEG written, the contrast check and its warnings. ``image`` None (a CT made in memory):
        the document names no image."""
        document = findings_document(detection, Path(image).resolve() if image is not None else "", self.model,
                                     self.params)
        if image is None:
            document["image"] = None
        if case is not None:
            document["case"] = case
        if self.preset is not None:
            document["preset"] = self.preset.as_dict()
        if dicom_seg is not None:
            document["dicom_seg"] = str(Path(dicom_seg).resolve())
        document["contrast"] = contrast.as_dict()
        document["warnings"] = [warning for warning in (contrast.warning(),) if warning]
        return document
