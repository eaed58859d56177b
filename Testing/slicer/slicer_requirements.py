"""``IExplain/Resources/requirements.txt`` rendered from ``pyproject.toml``, the one source of version bounds.

Slicer installs the worker's packages from requirements.txt; pip installs the library from pyproject.toml. Both
must give the same bounds (``timm>=1.0.9,<1.1`` in both: ``thirdparty.py`` needs what the upper bound allows), so
the file is generated from pyproject and a test compares the two (issue 26, fault 10). Run this file to rewrite it.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "IExplain" / "Resources" / "requirements.txt"
sys.path.insert(0, str(REPO / "IExplain"))

# Not installed by the module: Slicer's own builds (dependencies.NEVER_INSTALL) and plotting, which only the demo
# and the evaluation reports use (never ``detect`` or ``finetune``).
NOT_FOR_SLICER = {"matplotlib"}

HEADER = """\
# Python packages the IExplain worker needs inside 3D Slicer, installed when you first press Apply.
# Generated from pyproject.toml by Testing/slicer/slicer_requirements.py (same bounds; a test compares them).
# PyTorch (torch, torchvision) comes from the PyTorch extension (PyTorchUtils), which picks the right CUDA build.
# Never list SimpleITK, numpy, torch, torchvision or vtk here: Slicer ships its own builds (Slicer/Slicer#6711).
"""


def projectDependencies() -> list[str]:
    return list(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])


def renderRequirements() -> str:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from IExplainSlicerLib.dependencies import NEVER_INSTALL

    skipped = {canonicalize_name(name) for name in (*NEVER_INSTALL, *NOT_FOR_SLICER)}
    lines = [line for line in projectDependencies() if canonicalize_name(Requirement(line).name) not in skipped]
    return HEADER + "".join(f"{line}\n" for line in lines)


if __name__ == "__main__":
    REQUIREMENTS.write_text(renderRequirements(), encoding="utf-8")
    print(f"wrote {REQUIREMENTS}")
