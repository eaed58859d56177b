"""Shared fixtures: where the real CT data lives, and a skip with a reason where it is absent."""

from __future__ import annotations

import os
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
