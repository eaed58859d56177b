"""The models the panel offers: bundled demo models and models the user imported or finetuned.

Three kinds, one per detection method (``commands.MODEL_KIND_OF_METHOD``): a classifier (iExplain), a segmenter, and
a false-positive reducer (candidates), whose card also recommends a score threshold, shown with it.

A model is ``name.safetensors`` plus its card ``name.json`` (``IExplainLib.modelfile``). Bundled cards live in the
extension (``Resources/Models`` in the repository); imported and finetuned models are copied into a user folder
(``~/.IExplain/models`` by default) so they survive Slicer upgrades (SlicerTotalSegmentator PR #38) and work offline.
Every entry shows its licence and checksum; non-permissive licences need the user's acknowledgement (the widget asks).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from IExplainLib.errors import ModelFileError
from IExplainLib.findings import score_text
from IExplainLib.modelfile import model_paths, read_card, sha256_of

PERMISSIVE_LICENSES = {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0",
                       "isc", "unlicense"}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    weightsPath: Path
    license: str
    sha256: str
    source: str  # "bundled", "imported" or "finetuned"
    description: str = ""
    threshold: float | None = None  # a reducer card's score threshold (chosen on tuning seeds)

    @property
    def permissive(self) -> bool:
        return self.license.strip().lower() in PERMISSIVE_LICENSES

    @property
    def label(self) -> str:
        """The name and where the model came from, for the model lists: an imported copy can share a bundled name."""
        return f"{self.name} ({self.source})"

    def summary(self) -> str:
        """One line for the panel: licence and (short) checksum."""
        checksum = f"sha256 {self.sha256[:12]}…" if self.sha256 else "no checksum in card"
        threshold = f", score threshold {score_text(self.threshold)}" if self.threshold is not None else ""
        return f"{self.kind}, {self.source}, licence {self.license or 'unknown'}, {checksum}{threshold}"

    def verifyChecksum(self) -> bool:
        """True when the weights on disk match the card (a changed or truncated download fails here)."""
        return bool(self.sha256) and self.weightsPath.exists() and sha256_of(self.weightsPath) == self.sha256


def entryFromCard(cardOrWeights: Path, source: str) -> ModelEntry:
    """Read and check one model's card; raises ModelFileError with a one-line reason."""
    weights, _ = model_paths(cardOrWeights)
    card = read_card(weights)
    if not weights.exists():
        raise ModelFileError(f"{weights.name} (named by its card) is missing")
    threshold = card.get("threshold") if card["kind"] == "reducer" else None  # read_card checked it is in [0, 1]
    return ModelEntry(
        name=str(card.get("name") or weights.stem), kind=card["kind"], weightsPath=weights,
        license=str(card.get("license") or card.get("licence") or ""), sha256=str(card.get("sha256") or ""),
        source=source, description=str(card.get("description") or ""),
        threshold=None if threshold is None else float(threshold))


class ModelRegistry:
    """Bundled model folders (read-only) plus one user folder (imports and finetuned models)."""

    def __init__(self, bundledFolders: Iterable[Path], userFolder: Path):
        self.bundledFolders = [Path(f) for f in bundledFolders]
        self.userFolder = Path(userFolder)
        self.problems: list[str] = []

    def models(self, kind: str | None = None) -> list[ModelEntry]:
        """Every valid model (bundled first), optionally of one kind; broken cards are listed in ``problems``."""
        self.problems = []
        entries: list[ModelEntry] = []
        folders = [(f, "bundled") for f in self.bundledFolders] + [(self.userFolder, "user")]
        for folder, source in folders:
            if not folder.is_dir():
                continue
            for card in sorted(folder.glob("*.json")):
                try:
                    entry = entryFromCard(card, source)
                except ModelFileError as error:
                    self.problems.append(str(error))
                    logging.warning("IExplain: skipping model %s: %s", card, error)
                    continue
                if source == "user":
                    entry = _withSource(entry, "finetuned" if card.with_suffix(".finetuned").exists() else "imported")
                entries.append(entry)
        return [e for e in entries if kind is None or e.kind == kind]

    def find(self, weightsPath: str | Path) -> ModelEntry | None:
        target = Path(weightsPath).resolve()
        return next((e for e in self.models() if e.weightsPath.resolve() == target), None)

    def importModel(self, path: str | Path) -> ModelEntry:
        """Copy a model (its .safetensors and .json card) into the user folder after checking card and checksum."""
        weights, card = model_paths(path)
        entry = entryFromCard(weights, "imported")
        if not entry.sha256:
            raise ModelFileError(f"{card.name} has no sha256; cannot verify {weights.name}")
        if not entry.verifyChecksum():
            raise ModelFileError(f"{weights.name} does not match the checksum in {card.name} (corrupt or replaced)")
        self.userFolder.mkdir(parents=True, exist_ok=True)
        targetWeights, targetCard = self.userFolder / weights.name, self.userFolder / card.name
        if targetWeights.exists():
            existing = entryFromCard(targetWeights, "imported")
            if existing.sha256 == entry.sha256:
                return existing
            raise ModelFileError(f"a different model named {weights.stem} is already imported; rename the file first")
        shutil.copy2(card, targetCard)
        shutil.copy2(weights, targetWeights)
        return entryFromCard(targetWeights, "imported")

    def newFinetunedPath(self, base: ModelEntry) -> Path:
        """A free ``<base>-ft<N>.safetensors`` in the user folder for ``iexplain finetune --out``."""
        self.userFolder.mkdir(parents=True, exist_ok=True)
        number = 1
        while (self.userFolder / f"{base.weightsPath.stem}-ft{number}.safetensors").exists():
            number += 1
        return self.userFolder / f"{base.weightsPath.stem}-ft{number}.safetensors"

    def registerFinetuned(self, weightsPath: Path) -> ModelEntry:
        """Mark a model written by ``iexplain finetune`` as finetuned (a marker file beside its card)."""
        entry = entryFromCard(weightsPath, "finetuned")
        model_paths(weightsPath)[1].with_suffix(".finetuned").write_text("finetuned in 3D Slicer\n", encoding="utf-8")
        return entry


def bundledModelFolders(moduleDir: Path) -> list[Path]:
    """Installed, the extension puts its models in ``IExplainModels`` beside the module; in the repository (developer
    mode) they are in ``Resources/Models``."""
    return [moduleDir / "IExplainModels", moduleDir.parent / "Resources" / "Models"]


def _withSource(entry: ModelEntry, source: str) -> ModelEntry:
    return ModelEntry(entry.name, entry.kind, entry.weightsPath, entry.license, entry.sha256, source, entry.description,
                      entry.threshold)
