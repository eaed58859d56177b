"""Shared fixtures: where the real CT data lives (a skip with a reason where it is absent), and DICOM's validator."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_CT_ROOT = Path(os.environ.get("IEXPLAIN_REAL_CT", PROJECT_ROOT.parent / "shared" / "data" / "real-ct"))


@pytest.fixture(scope="session")
def real_ct() -> Path:
    """``../shared/data/real-ct`` (or ``$IEXPLAIN_REAL_CT``); tests using it skip where it is absent."""
    if not REAL_CT_ROOT.is_dir():
        pytest.skip(f"real CT data not found at {REAL_CT_ROOT} (set IEXPLAIN_REAL_CT)")
    return REAL_CT_ROOT


@pytest.fixture(scope="session")
def popi_folder(real_ct) -> Path:
    return real_ct / "popi_4dct_phase00_chest_ct"


@pytest.fixture(scope="session")
def dciodvfy():
    """``validate(path, iod)``: run dicom3tools' ``dciodvfy`` on a file and return its lines that contain "Error"
    (after checking that it recognised the file as ``iod``, e.g. "CTImage" or "Segmentation").

    Skips where dciodvfy is absent, except where ``IEXPLAIN_REQUIRE_DCIODVFY`` is set (``.ci/run`` sets it after
    installing dicom3tools): there the conformance tests must run, so its absence fails them.
    """
    executable = shutil.which("dciodvfy")
    if executable is None:
        message = "dciodvfy not installed (Debian package dicom3tools): DICOM conformance not checked"
        if os.environ.get("IEXPLAIN_REQUIRE_DCIODVFY"):
            pytest.fail(f"{message}, but IEXPLAIN_REQUIRE_DCIODVFY is set")
        pytest.skip(message)

    def validate(path, iod: str) -> list[str]:
        result = subprocess.run([executable, str(path)], capture_output=True, text=True, timeout=300)
        lines = (result.stdout + result.stderr).splitlines()
        assert iod in [line.strip() for line in lines], f"dciodvfy did not read {path} as {iod}: {lines[:5]}"
        return [line for line in lines if "Error" in line]

    return validate


@pytest.fixture
def single_thread_torch():
    """torch single-threaded for one test: the machine's cores are shared, and oversubscribed threads are far slower
    there. Suites that need it make it autouse in their own conftest."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
