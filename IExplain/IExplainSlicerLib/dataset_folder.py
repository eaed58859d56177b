"""The finetuning dataset folder the module exports corrected cases into (docs/architecture.md, dataset.json layout).

```
DIR/dataset.json             {"format": "iexplain-dataset", "version": 1, "cases": [...], "superseded_cases": [...]}
DIR/images/<id>.nrrd         the CT
DIR/labels/<id>.nrrd         the merged corrected label (0/1) in the CT's exact geometry
DIR/labels/<id>.json         sidecar: model, parameters, accepted iterations, review status, time
DIR/original/<id>.seg.nrrd   the model's own output, never edited (kept apart from the corrections)
DIR/segmentations/<id>.seg.nrrd  the corrected segments, to reopen and continue reviewing
```
A second export of the same case is added as ``<id>-v2`` (then ``-v3``...); nothing is overwritten, and no ID already
in the index is reused. The older entry moves from ``cases`` to ``superseded_cases`` so that training sees one label
per CT, while every version stays on disk and in the index; an entry is superseded only by a newer version of its
own case on the same CT (``provenance.ct_identity_key``), never by another study whose ID happens to look alike. ``dataset.json`` is replaced atomically, after all files of the case are written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from IExplainLib.errors import InputError
from IExplainLib.outputs import write_text_atomic

DATASET_FORMAT = "iexplain-dataset"
DATASET_VERSION = 1
DATASET_FILE = "dataset.json"


@dataclass(frozen=True)
class CasePaths:
    caseId: str
    version: int
    image: Path
    label: Path
    sidecar: Path
    original: Path
    corrected: Path

    def relative(self, path: Path, root: Path) -> str:
        return path.relative_to(root).as_posix()


def safeCaseId(name: str) -> str:
    """A file-name-safe case id from a node name (letters, digits, ``.``, ``_`` and ``-``)."""
    caseId = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    if not caseId:
        raise InputError(f"cannot make a case id from {name!r}; type one in")
    return caseId


class FinetuneDatasetFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def indexPath(self) -> Path:
        return self.root / DATASET_FILE

    def load(self) -> dict:
        """The index, or a new empty one; refuses a folder holding another kind of dataset.json."""
        if not self.indexPath.exists():
            return {"format": DATASET_FORMAT, "version": DATASET_VERSION,
                    "description": "Corrected PE segmentations exported from 3D Slicer (IExplain)", "cases": []}
        try:
            index = json.loads(self.indexPath.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"{self.indexPath} is not readable JSON: {error}") from error
        if not isinstance(index, dict) or index.get("format") != DATASET_FORMAT:
            raise InputError(f"{self.indexPath} is not an IExplain dataset (format != {DATASET_FORMAT!r})")
        if index.get("version") != DATASET_VERSION:
            raise InputError(f"{self.indexPath} has dataset version {index.get('version')}, expected {DATASET_VERSION}")
        index.setdefault("cases", [])
        return index

    def versionsOf(self, index: dict, baseId: str) -> list[int]:
        pattern = re.compile(rf"^{re.escape(baseId)}(?:-v(\d+))?$")
        versions = []
        for entry in index.get("cases", []) + index.get("superseded_cases", []):
            match = pattern.match(str(entry.get("id", "")))
            if match:
                versions.append(int(match.group(1) or 1))
        return sorted(versions)

    @staticmethod
    def _entries(index: dict) -> list[dict]:
        return list(index.get("cases", [])) + list(index.get("superseded_cases", []))

    def checkCaseBelongsTo(self, index: dict, baseId: str, identityKey: str) -> None:
        """Refuse ``baseId`` when the index already holds it for another CT (a typed case ID reused by mistake)."""
        baseId = safeCaseId(baseId)
        for entry in self._entries(index):
            provenance = entry.get("provenance", {})
            other = provenance.get("ct_identity_key")
            if provenance.get("base_case", entry.get("id")) == baseId and other and other != identityKey:
                raise InputError(f"case {baseId} already holds another CT ({entry.get('id')}); leave the case ID "
                                 "empty or type another one")

    def nextCase(self, index: dict, baseId: str) -> CasePaths:
        """Paths for the next version of ``baseId``: ``baseId`` itself first, then ``baseId-v2``..."""
        baseId = safeCaseId(baseId)
        versions = self.versionsOf(index, baseId)
        version = (max(versions) + 1) if versions else 1
        caseId = baseId if version == 1 else f"{baseId}-v{version}"
        used = {str(entry.get("id", "")) for entry in self._entries(index)}
        while caseId in used or any((self.root / folder / f"{caseId}{ending}").exists()
                                    for folder, ending in (("images", ".nrrd"), ("labels", ".nrrd"))):
            version += 1  # an ID in the index, or stray files: never overwrite, never reuse
            caseId = f"{baseId}-v{version}"
        return CasePaths(caseId, version, self.root / "images" / f"{caseId}.nrrd",
                         self.root / "labels" / f"{caseId}.nrrd", self.root / "labels" / f"{caseId}.json",
                         self.root / "original" / f"{caseId}.seg.nrrd",
                         self.root / "segmentations" / f"{caseId}.seg.nrrd")

    def addCase(self, index: dict, baseId: str, entry: dict, identityKey: str | None = None) -> dict:
        """Add ``entry`` (with its ``id``) and retire earlier versions of the same case on the same CT (when
        ``identityKey`` is given and an entry records one, they must match); write the index atomically."""
        index = dict(index)
        current, superseded = [], list(index.get("superseded_cases", []))
        baseId = safeCaseId(baseId)
        versions = set(self.versionsOf({"cases": [entry]}, baseId))
        if not versions:
            raise InputError(f"case id {entry.get('id')} is not a version of {baseId}")
        for case in index.get("cases", []):
            provenance = case.get("provenance", {})
            sameCase = provenance.get("base_case", baseId) == baseId and self.versionsOf({"cases": [case]}, baseId)
            recorded = provenance.get("ct_identity_key")
            if sameCase and (identityKey is None or recorded is None or recorded == identityKey):
                case = {**case, "provenance": {**case.get("provenance", {}), "superseded_by": entry["id"]}}
                superseded.append(case)
            else:
                current.append(case)
        index["cases"] = current + [entry]
        if superseded:
            index["superseded_cases"] = superseded
        self.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.indexPath, json.dumps(index, indent=2) + "\n", overwrite=True)
        return index
