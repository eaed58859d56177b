"""What the module remembers between sessions: folders and accepted model licences."""

from __future__ import annotations

from pathlib import Path

from IExplainSlicerLib.model_registry import ModelEntry
from IExplainSlicerLib.settings import ModuleSettings


class RestartedSettings:
    """``qt.QSettings`` as Slicer reads it after a restart: every value comes back from Slicer.ini as a string.

    There is no Qt on the ``slicer-core`` wheel, so this small store stands in for QSettings.
    """

    def __init__(self):
        self.values: dict[str, str] = {}
        self.opened = 0

    def open(self) -> RestartedSettings:
        self.opened += 1
        return self

    def contains(self, key: str) -> bool:
        return key in self.values

    def value(self, key: str) -> str:
        return self.values[key]

    def setValue(self, key: str, value) -> None:
        self.values[key] = str(value).lower() if isinstance(value, bool) else str(value)


def entry(name: str, license: str, sha256: str = "") -> ModelEntry:
    return ModelEntry(name, "segmenter", Path(f"{name}.safetensors"), license, sha256, "bundled")


def test_folders_default_under_home_and_the_export_folder_is_remembered(tmp_path):
    store = RestartedSettings()
    settings = ModuleSettings(store.open, home=tmp_path)
    assert settings.modelsFolder() == tmp_path / ".IExplain" / "models"
    assert settings.exportFolder() == str(tmp_path / ".IExplain" / "finetune-dataset")
    settings.rememberExportFolder(tmp_path / "corrections")
    assert settings.exportFolder() == str(tmp_path / "corrections")
    store.values["IExplain/modelsFolder"] = str(tmp_path / "shared-models")
    assert settings.modelsFolder() == tmp_path / "shared-models"
    assert store.opened == 5, "a fresh QSettings per access, like slicer.util.settingsValue"


def test_only_non_permissive_licences_need_acceptance_and_it_is_remembered_per_checksum(tmp_path):
    store = RestartedSettings()
    settings = ModuleSettings(store.open, home=tmp_path)
    assert settings.licenseAccepted(None) and settings.licenseAccepted(entry("open", "Apache-2.0"))
    restricted = entry("demo-segmenter", "CC-BY-NC-4.0", sha256="ab12")
    assert not settings.licenseAccepted(restricted)
    settings.acceptLicense(restricted)
    assert store.values == {"IExplain/acceptedLicense/ab12": "true"}
    assert settings.licenseAccepted(restricted)
    assert not settings.licenseAccepted(entry("demo-segmenter", "CC-BY-NC-4.0", sha256="cd34")), "other weights"
    store.values["IExplain/acceptedLicense/no-card-checksum"] = "false"
    assert not settings.licenseAccepted(entry("no-card-checksum", "proprietary"))
    settings.acceptLicense(entry("no-card-checksum", "proprietary"))
    assert settings.licenseAccepted(entry("no-card-checksum", "proprietary"))
