"""Safe output files: never replace what is there unless asked, never leave a half-written file behind.

Every writer in IExplainLib writes through :func:`atomic_output`: the data go to a hidden temporary file in the
target folder (same file ending, so extension-driven writers such as SimpleITK pick the right format), which is then
renamed over the target in one step. A crash, a full disk or Ctrl-C leaves the previous state untouched; only a
process killed outright (``kill -9``, a lost node) strands its temporary file, ``.partial-<8 hex>-<name>``: resumable
commands remove those when they start again (:func:`remove_partials`, :func:`claim_folder`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
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


PARTIAL_NAME = re.compile(r"^\.partial-[0-9a-f]{8}-(?P<target>.+)$")


def _temporary_sibling(path: Path) -> Path:
    return path.parent / f".partial-{uuid.uuid4().hex[:8]}-{path.name}"


def partial_target(path: Path) -> str | None:
    """The name of the file a ``.partial-*`` temporary was being written for, or None for any other name."""
    match = PARTIAL_NAME.match(Path(path).name)
    return match.group("target") if match else None


def remove_partials(folder: str | os.PathLike, targets=None, recursive: bool = True, progress=None) -> list[Path]:
    """Remove the temporary files (or folders) that killed writers left in ``folder``; return what was removed.

    ``targets``: only temporaries of these file names (a run's own outputs in a folder other runs may share);
    None: every one. Call it only where no other process is writing into ``folder`` (see :func:`claim_folder`).
    With ``progress``, the removal is reported in one line.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = None if targets is None else {Path(t).name for t in targets}
    found = folder.rglob(".partial-*") if recursive else folder.glob(".partial-*")
    removed = []
    for path in sorted(found):
        target = partial_target(path)
        if target is not None and (names is None or target in names) and (path.exists() or path.is_symlink()):
            _remove(path)
            removed.append(path)
    report_removed(removed, progress)
    return removed


def report_removed(removed: list[Path], progress=None) -> None:
    """One progress line naming the temporaries an interrupted run left and this run removed (none: no line)."""
    if removed and progress is not None:
        shown = ", ".join(str(path) for path in removed[:3])
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        progress("resume", None, f"removed {len(removed)} temporary file(s) an interrupted run left: {shown}{more}",
                 force=True, removed=len(removed))


@contextlib.contextmanager
def claim_folder(folder: str | os.PathLike, progress=None):
    """Hold a shared claim on ``folder`` while this process writes into it; when no other process holds one (no
    other shard of the run is alive), first remove the temporaries killed runs left (:func:`remove_partials`).

    POSIX ``flock`` on ``folder/.run.lock``: the lock dies with its process, so a killed run never blocks a rerun.
    Where there is no ``flock`` (Windows) the temporaries are removed unconditionally. Yields the removed paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield remove_partials(folder, progress=progress)
        return
    with open(folder / ".run.lock", "a+") as handle:
        removed = []
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another shard is writing here: its temporaries are alive
            pass
        else:
            removed = remove_partials(folder, progress=progress)
        fcntl.flock(handle, fcntl.LOCK_SH)  # from exclusive: a shard waiting for its claim starts after the cleanup
        try:
            yield removed
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
