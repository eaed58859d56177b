"""What the module remembers between Slicer sessions: models, export and study folders, accepted licences.

The store is injected: Slicer passes ``qt.QSettings`` (a fresh object per access, as ``slicer.util.settingsValue``
does), tests pass their own. Values read back from an INI-backed ``QSettings`` are strings ("true"), so booleans go
through ``slicer.util.toBool`` like everywhere else in Slicer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

MODELS_FOLDER_KEY = "IExplain/modelsFolder"
EXPORT_FOLDER_KEY = "IExplain/exportFolder"
STUDY_FOLDER_KEY = "IExplain/studyFolder"
ACCEPTED_LICENSE_KEY_PREFIX = "IExplain/acceptedLicense/"
CHOSEN_MODEL_KEY_PREFIX = "IExplain/chosenModel/"
CHOSEN_METHOD_KEY = "IExplain/chosenMethod"


class SettingsStore(Protocol):
    """The part of ``qt.QSettings`` the module uses."""

    def contains(self, key: str) -> bool: ...

    def value(self, key: str) -> Any: ...

    def setValue(self, key: str, value: Any) -> None: ...


class ModuleSettings:
    def __init__(self, openStore: Callable[[], SettingsStore], home: Path | None = None):
        self.openStore = openStore
        self.home = Path.home() if home is None else Path(home)

    def _value(self, key: str, default: Any, converter: Callable[[Any], Any] = lambda value: value) -> Any:
        store = self.openStore()
        return converter(store.value(key)) if store.contains(key) else default

    def modelsFolder(self) -> Path:
        """Where imported and finetuned models are copied (outside the extension, so upgrades keep them)."""
        return Path(self._value(MODELS_FOLDER_KEY, str(self.home / ".IExplain" / "models")))

    def exportFolder(self) -> str:
        return self._value(EXPORT_FOLDER_KEY, str(self.home / ".IExplain" / "finetune-dataset"))

    def rememberExportFolder(self, folder: str | Path) -> None:
        self.openStore().setValue(EXPORT_FOLDER_KEY, str(folder))

    def studyFolder(self) -> str:
        """The worklist folder ("Next study"); empty until the user picks one."""
        return self._value(STUDY_FOLDER_KEY, "")

    def rememberStudyFolder(self, folder: str | Path) -> None:
        self.openStore().setValue(STUDY_FOLDER_KEY, str(folder))

    def chosenModel(self, kind: str) -> str:
        """The weights last chosen for ``kind`` ("classifier", "segmenter"): a closed or restored scene (whose
        parameter node was emptied, or names a path of another machine) gets the user's choice back."""
        return self._value(CHOSEN_MODEL_KEY_PREFIX + kind, "")

    def rememberModel(self, kind: str, weightsPath: str | Path) -> None:
        self.openStore().setValue(CHOSEN_MODEL_KEY_PREFIX + kind, str(weightsPath))

    def chosenMethod(self) -> str:
        """The detection method last chosen ("iexplain", "segmenter", "candidates"): a closed scene gets it back."""
        return str(self._value(CHOSEN_METHOD_KEY, "iexplain"))

    def rememberMethod(self, method: str) -> None:
        self.openStore().setValue(CHOSEN_METHOD_KEY, method)

    @staticmethod
    def _licenseKey(entry) -> str:
        # The checksum, when the card has one, so that a different model reusing the name must be accepted again.
        return ACCEPTED_LICENSE_KEY_PREFIX + (entry.sha256 or entry.name)

    def licenseAccepted(self, entry) -> bool:
        """True when ``entry`` needs no question: none chosen, a permissive licence, or accepted before."""
        from slicer.util import toBool

        if entry is None or entry.permissive:
            return True
        return self._value(self._licenseKey(entry), False, converter=toBool)

    def acceptLicense(self, entry) -> None:
        self.openStore().setValue(self._licenseKey(entry), True)
