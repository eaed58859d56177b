"""Choosing the torch device from a user's words ("auto", "cpu", "cuda", "cuda:1")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import IExplainError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str = "auto") -> torch.device:
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise IExplainError(f"device {name} requested but no CUDA GPU is available (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise IExplainError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from error
