"""Python packages the worker needs, checked and installed when the user presses Apply (never at import).

PyTorch comes from the PyTorch extension (``PyTorchUtils``), which picks the CUDA build that fits the GPU driver.
Everything else is listed in ``Resources/requirements.txt`` and installed with ``slicer.packaging.pip_ensure`` on
Slicer 5.12+ (prompt, progress, restart offer) or ``slicer.util.pip_install`` before. Slicer's own SimpleITK and
numpy are never reinstalled (Slicer/Slicer#6711, #7661): they are skipped even if a requirement pulls them in.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from IExplainLib.errors import IExplainError

MINIMUM_TORCH_VERSION = "2.1"
NEVER_INSTALL = ("SimpleITK", "numpy", "torch", "torchvision", "vtk")


class DependencyError(IExplainError):
    """A dependency is missing and could not (or may not) be installed; ``restartRequired`` asks for a restart."""

    def __init__(self, message: str, restartRequired: bool = False):
        super().__init__(message)
        self.restartRequired = restartRequired


def readRequirements(path: str | Path) -> list[str]:
    """Requirement lines (comments, blank lines and pip options dropped)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def missingRequirements(requirements: list[str]) -> list[str]:
    """The requirements not satisfied by what is installed (name missing or version too old)."""
    from packaging.requirements import Requirement

    missing = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            missing.append(line)
    return missing


def forbiddenRequirements(requirements: list[str]) -> list[str]:
    """Requirements naming packages that Slicer or the PyTorch extension own (a packaging mistake if any)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    owned = {canonicalize_name(name) for name in NEVER_INSTALL}
    return [line for line in requirements if canonicalize_name(Requirement(line).name) in owned]


def installedPins(names) -> list[str]:
    """``name==version`` for each installed package among ``names`` (a pip constraints file)."""
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def ensureRequirements(requirementsPath: str | Path, testing: bool = False) -> None:
    """PyTorch through the PyTorch extension, the rest from ``requirements.txt``; the module calls it on Apply only.

    Slicer's self-tests run unattended: with everything installed they ask nothing, else PyTorch installs unasked.
    """
    if testing and not missingRequirements(readRequirements(requirementsPath)):
        return
    ensureTorch(askConfirmation=not testing)
    ensurePythonPackages(requirementsPath, testing=testing)


def ensureTorch(askConfirmation: bool = True):
    """PyTorch from the PyTorch extension, at least ``MINIMUM_TORCH_VERSION``; returns the torch module."""
    try:
        import PyTorchUtils
    except ModuleNotFoundError as error:
        raise DependencyError("IExplain needs the PyTorch extension: install it from the Extensions Manager, "
                              "restart Slicer, then press Apply again.") from error
    from packaging.version import Version

    torchLogic = PyTorchUtils.PyTorchUtilsLogic()
    if not torchLogic.torchInstalled():
        torch = torchLogic.installTorch(askConfirmation=askConfirmation,
                                        torchVersionRequirement=f">={MINIMUM_TORCH_VERSION}")
        if torch is None:
            raise DependencyError("PyTorch is required; installation was cancelled.")
        return torch
    torch = torchLogic.torch
    if Version(torch.__version__.split("+")[0]) < Version(MINIMUM_TORCH_VERSION):
        raise DependencyError(f"PyTorch {torch.__version__} is too old (IExplain needs >= {MINIMUM_TORCH_VERSION}); "
                              "upgrade it in the PyTorch Utils module, restart Slicer, then try again.")
    return torch


def importNameOf(requirement: str) -> str:
    """The module a requirement's package is imported as (``pytorch-lightning`` -> ``pytorch_lightning``)."""
    from packaging.requirements import Requirement

    return Requirement(requirement).name.lower().replace("-", "_")


def importedBeforeInstall(requirements, modules) -> list[str]:
    """Requirements whose module this Python has already imported: a new version takes effect only after a
    restart (``DependencyError.restartRequired``)."""
    return [line for line in requirements if importNameOf(line) in modules]


def ensurePythonPackages(requirementsPath: str | Path, requester: str = "IExplain", testing: bool = False) -> None:
    """Install what ``requirements.txt`` lists and is missing; 5.12's ``pip_ensure`` when present.

    In Slicer's testing mode ``pip_ensure`` would skip the install by default (``skip_in_testing=True``) and leave the
    self-test without captum or timm: here it installs without asking. A package updated after it was imported
    raises ``DependencyError(restartRequired=True)``; the widget offers the restart.
    """
    import sys

    import slicer

    requirements = readRequirements(requirementsPath)
    if forbiddenRequirements(requirements):
        raise DependencyError(f"{requirementsPath} lists packages Slicer owns: {forbiddenRequirements(requirements)}")
    packaging = getattr(slicer, "packaging", None)
    if packaging is not None and hasattr(packaging, "pip_ensure"):
        packaging.pip_ensure(packaging.load_requirements(str(requirementsPath)), skip_packages=list(NEVER_INSTALL),
                             prompt_install=not testing, requester=requester, skip_in_testing=False)
        return
    missing = missingRequirements(requirements)
    if not missing:
        return
    if not testing and not slicer.util.confirmOkCancelDisplay(
            "IExplain needs these Python packages, which will be downloaded and installed now:\n\n"
            + "\n".join(missing), "IExplain: install dependencies"):
        raise DependencyError("required Python packages are missing; installation was cancelled.")
    # pip on <= 5.10 has no skip list: pin what Slicer owns to the installed versions so nothing replaces them.
    constraints = Path(slicer.util.tempDirectory("IExplain-pip")) / "constraints.txt"
    constraints.write_text("\n".join(installedPins(NEVER_INSTALL)) + "\n", encoding="utf-8")
    slicer.util.pip_install([*missing, "-c", str(constraints)])
    stillMissing = missingRequirements(requirements)
    if stillMissing:
        raise DependencyError(f"could not install {', '.join(stillMissing)}; see the Python console for pip's output.")
    stale = importedBeforeInstall(missing, sys.modules)
    if stale:
        raise DependencyError(f"{', '.join(stale)} were updated after Slicer had loaded them; restart Slicer to use "
                              "the new versions.", restartRequired=True)
