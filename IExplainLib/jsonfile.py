"""Reading the project's small JSON files (cards, manifests, parameters, exports) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import IExplainError, InputError


def read_json(path: str | Path, what: str = "file", error: type[IExplainError] = InputError) -> Any:
    """The parsed document; a missing file or invalid JSON raises ``error`` naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{what} {path} is not valid JSON: {problem}") from problem
