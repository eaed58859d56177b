"""Safe output files: never replace what is there unless asked, never leave a half-written file behind.

Every writer in IExplainLib writes through :func:`atomic_output`: the data go to a hidden temporary file in the
target folder (same file ending, so extension-driven writers such as SimpleITK pick the right format), which is then
renamed over the target in one step. A crash, a full disk or Ctrl-C leaves the previous state untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from pathlib import Path

from .errors import IExplainError, OutputExistsError


def check_can_write(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse an existing output unless ``overwrite``; create a missing parent folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists (use --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _temporary_sibling(path: Path) -> Path:
    return path.parent / f".partial-{uuid.uuid4().hex[:8]}-{path.name}"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False):
    """Yield a temporary path to write; on success rename it to ``path``; on any failure remove it.

    ``OSError`` such as a full disk becomes a one-line :class:`IExplainError` naming the file.
    """
    target = check_can_write(path, overwrite)
    temporary = _temporary_sibling(target)
    try:
        yield temporary
        if not temporary.exists():
            raise IExplainError(f"internal error: nothing was written for {target}")
        if target.exists() and not overwrite:  # appeared while we were writing
            raise OutputExistsError(f"{target} already exists (use --overwrite to replace it)")
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(temporary, target)
    except OSError as error:
        _remove(temporary)
        if error.errno == errno.ENOSPC:
            raise IExplainError(f"disk full while writing {target}; nothing was changed") from error
        raise IExplainError(f"cannot write {target}: {error.strerror or error}") from error
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write a small text file (JSON, CSV) atomically."""
    with atomic_output(path, overwrite) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)
