"""Resumable training checkpoints.

A checkpoint holds only tensors, numbers and strings (model, optimizer and scheduler state, step, RNG state), so it
loads with ``torch.load(weights_only=True)``: a checkpoint cannot run code. It is written atomically, so a run killed
mid-save resumes from the previous checkpoint instead of a corrupt file. The deliverable model is separate
(``modelfile.save_model``: safetensors + card).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import IExplainError
from ..outputs import atomic_output


def save_checkpoint(path: str | Path, state: dict) -> Path:
    import torch

    state = {**state, "torch_rng": torch.get_rng_state()}
    with atomic_output(path, overwrite=True) as temporary:
        torch.save(state, temporary)
    return Path(path)


def load_checkpoint(path: str | Path, restore_rng: bool = True) -> dict:
    import torch

    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, truncated zip, foreign objects
        raise IExplainError(f"checkpoint {path} cannot be loaded safely: {str(error).splitlines()[0]}") from error
    if restore_rng and "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    return state
