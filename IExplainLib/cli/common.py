"""Argument helpers every command shares, so flags are spelled and behave the same everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..progress import Progress


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=("text", "json", "quiet"), default="text",
                        help="progress on stderr as text (default), as JSON lines on stdout, or none")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")


def progress_from(args) -> Progress:
    return Progress(getattr(args, "progress", "text"))


def existing_path(path: str, what: str = "input") -> Path:
    """The path, or a one-line error naming it when it does not exist."""
    resolved = Path(path)
    if not resolved.exists():
        raise InputError(f"{what} {path} not found")
    return resolved
