"""A folder of studies worked through one after another ("Next study"), like MONAI Label's next sample.

The studies are the CT files directly in the folder (``.nrrd``, ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``; not
segmentations, heat maps or labelmaps the module wrote there), in name order. A study counts as *done* when the
finetuning dataset folder already holds a case exported from it: one whose provenance names this file (case IDs carry
a digest of the CT since issue 26), or, for older exports, its case id or a later version of it. "Next study" skips
to the first study after the current one that nobody has exported yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .dataset_folder import FinetuneDatasetFolder, safeCaseId

CT_ENDINGS = (".nii.gz", ".nrrd", ".nii", ".mha", ".mhd")
NOT_A_CT = (".seg.nrrd", "-label.nrrd", "-label.nii.gz", ".heatmap.nrrd", "attribution.nrrd", "probability.nrrd")


def studyName(path: Path) -> str:
    """The file name without its ending (the node name Slicer gives it, and the default case id)."""
    name = path.name
    for ending in CT_ENDINGS:
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return path.stem


@dataclass(frozen=True)
class Study:
    path: Path
    name: str
    done: bool


class StudyWorklist:
    def __init__(self, folder: str | Path, datasetFolder: str | Path | None = None):
        self.folder = Path(folder)
        self.datasetFolder = Path(datasetFolder) if datasetFolder else None

    def _exported(self) -> tuple[set[str], set[str]]:
        """IDs of exported cases and the study files they came from."""
        if self.datasetFolder is None or not (self.datasetFolder / "dataset.json").is_file():
            return set(), set()
        dataset = FinetuneDatasetFolder(self.datasetFolder)
        index = dataset.load()
        cases = index.get("cases", []) + index.get("superseded_cases", [])
        files = {str(case.get("provenance", {}).get("study_file")) for case in cases}
        return {str(case.get("id", "")) for case in cases}, files

    def studies(self) -> list[Study]:
        if not self.folder.is_dir():
            return []
        exported, files = self._exported()
        found = []
        for path in sorted(self.folder.iterdir(), key=lambda p: p.name.lower()):
            lower = path.name.lower()
            if not path.is_file() or not lower.endswith(CT_ENDINGS) or lower.endswith(NOT_A_CT):
                continue
            name = studyName(path)
            caseId = safeCaseId(name)
            done = (str(path) in files or caseId in exported
                    or any(e.startswith(f"{caseId}-v") for e in exported))
            found.append(Study(path, name, done))
        return found

    def next(self, current: str | Path | None = None, skipDone: bool = True) -> Study | None:
        """The first study after ``current`` (a path or a study name) that is not done; wraps around once."""
        studies = self.studies()
        if not studies:
            return None
        position = -1
        if current is not None:
            key = str(current)
            position = next((i for i, s in enumerate(studies) if str(s.path) == key or s.name == key), -1)
        ordered = studies[position + 1:] + studies[: position + 1]
        for study in ordered:
            if not (skipDone and study.done) and (current is None or study.name != str(current)
                                                  and str(study.path) != str(current)):
                return study
        return None

    def progressText(self) -> str:
        studies = self.studies()
        done = sum(s.done for s in studies)
        return f"{done} of {len(studies)} studies exported"
