"""Resumable training checkpoints.

A checkpoint holds only tensors, numbers and strings (model, optimizer and scheduler state, step, RNG state), so it
loads with ``torch.load(weights_only=True)``: a checkpoint cannot run code. It is written atomically, so a run killed
mid-save resumes from the previous checkpoint instead of a corrupt file; the temporary file such a kill strands is
removed when the run starts again (:func:`clean_interrupted_run`). The deliverable model is separate
(``modelfile.save_model``: safetensors + card).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import IExplainError
from ..outputs import atomic_output, remove_partials, report_removed


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


def clean_interrupted_run(outputs, progress: Callable | None = None) -> list[Path]:
    """Remove the ``.partial-*`` temporaries a killed run of the same training left for its own ``outputs``
    (checkpoint, model, card; other runs' temporaries in the same folder are left alone), and say so. Call it on the
    main process, before it writes any of them."""
    removed = []
    for output in outputs:
        output = Path(output)
        removed += remove_partials(output.parent, targets=[output.name], recursive=False)
    report_removed(removed, progress)
    return removed
